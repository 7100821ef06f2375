//! Effective limits of one tenant (rules Q1, Q2, Q4, Q5, Q6, Q9), from the
//! `[relay.quota]` settings, the tenant's licences and its billing state.

use crate::config::{Billing, QuotaConfig, TenantConfig, UserLimits};
use crate::time::SimDuration;

/// The limits that apply to one tenant and its registered users right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveLimits {
    /// Q1 (Q9: a setting): messages per registered user per `day_window`.
    pub user_messages: u64,
    /// Q2: unique recipients per registered user per `day_window`.
    pub user_unique_recipients: u64,
    /// Q4: non-unique recipients per customer per `day_window`.
    pub customer_day: u64,
    /// Q5: non-unique recipients per customer per `peak_window`.
    pub customer_peak: u64,
    pub day_window: SimDuration,
    pub peak_window: SimDuration,
    /// Where each customer value comes from, for display.
    pub customer_day_source: LimitSource,
    pub customer_peak_source: LimitSource,
}

/// Which rule produced a customer limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitSource {
    /// `per_licence × licences` (Q4/Q5).
    PerLicence { per_licence: u64, licences: u32 },
    /// The documented upper bound (Q4: 4,600,000; Q5: 319,444).
    Cap,
    /// The lower limit of a customer that has not paid an invoice (Q6).
    Unpaid,
}

impl EffectiveLimits {
    /// The limits of `tenant` as configured (its licences and billing at the start).
    pub fn of_tenant(quota: &QuotaConfig, tenant: &TenantConfig) -> Self {
        Self::for_tenant(quota, tenant.licences, tenant.billing, tenant.user_limits)
    }

    /// Q4: `min(130 × licences, 4,600,000)`; Q5: `min(9 × licences, 319,444)`.
    ///
    /// Q6, our reading of "lower": an unpaid customer gets the **lower** of the unpaid
    /// value (100 / 50, per-user 1,000 [assumption]) and the paid limit, so a trial is
    /// never allowed more than the same tenant after paying (with one licence the paid
    /// peak limit, 9, is already below 50).
    ///
    /// Q9: the tenant's own per-user limits replace `[relay.quota]`'s where given.
    pub fn for_tenant(
        quota: &QuotaConfig,
        licences: u32,
        billing: Billing,
        user: UserLimits,
    ) -> Self {
        let (customer_day, customer_day_source) = scaled(
            quota.customer_recipients_per_licence_per_day,
            licences,
            quota.customer_day_cap,
        );
        let (customer_peak, customer_peak_source) = scaled(
            quota.customer_recipients_per_licence_per_peak,
            licences,
            quota.customer_peak_cap,
        );
        let paid = EffectiveLimits {
            user_messages: user.messages_per_day.unwrap_or(quota.user_messages_per_day),
            user_unique_recipients: user
                .unique_recipients_per_day
                .unwrap_or(quota.user_unique_recipients_per_day),
            customer_day,
            customer_peak,
            day_window: quota.day_window,
            peak_window: quota.peak_window,
            customer_day_source,
            customer_peak_source,
        };
        match billing {
            Billing::Paid => paid,
            Billing::Unpaid => {
                let lower = |paid: u64, paid_source: LimitSource, unpaid: u64| {
                    if unpaid < paid {
                        (unpaid, LimitSource::Unpaid)
                    } else {
                        (paid, paid_source)
                    }
                };
                let (customer_day, customer_day_source) = lower(
                    paid.customer_day,
                    paid.customer_day_source,
                    quota.unpaid_customer_recipients_per_day,
                );
                let (customer_peak, customer_peak_source) = lower(
                    paid.customer_peak,
                    paid.customer_peak_source,
                    quota.unpaid_customer_recipients_per_peak,
                );
                EffectiveLimits {
                    user_messages: paid.user_messages.min(quota.unpaid_user_messages_per_day),
                    user_unique_recipients: paid
                        .user_unique_recipients
                        .min(quota.unpaid_user_unique_recipients_per_day),
                    customer_day,
                    customer_peak,
                    customer_day_source,
                    customer_peak_source,
                    ..paid
                }
            }
        }
    }
}

fn scaled(per_licence: u64, licences: u32, cap: u64) -> (u64, LimitSource) {
    let value = per_licence.saturating_mul(u64::from(licences));
    if value > cap {
        (cap, LimitSource::Cap)
    } else {
        (
            value,
            LimitSource::PerLicence {
                per_licence,
                licences,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q9: the per-user limits are settings, not constants.
    #[test]
    fn q09_user_limits_are_settings() {
        let quota = QuotaConfig {
            user_messages_per_day: 2_000,
            user_unique_recipients_per_day: 500,
            ..QuotaConfig::default()
        };
        let l = EffectiveLimits::for_tenant(&quota, 10, Billing::Paid, UserLimits::default());
        assert_eq!((l.user_messages, l.user_unique_recipients), (2_000, 500));
    }

    /// Q9: a customer's own per-user limits replace the relay-wide ones, one by one.
    #[test]
    fn q09_a_tenant_may_have_its_own_user_limits() {
        let own = UserLimits {
            messages_per_day: Some(3_000),
            unique_recipients_per_day: None,
        };
        let l = EffectiveLimits::for_tenant(&QuotaConfig::default(), 10, Billing::Paid, own);
        assert_eq!((l.user_messages, l.user_unique_recipients), (3_000, 10_000));
        let unpaid = EffectiveLimits::for_tenant(&QuotaConfig::default(), 10, Billing::Unpaid, own);
        assert_eq!(
            unpaid.user_messages, 1_000,
            "the trial's lower value still applies"
        );
    }

    fn limits(licences: u32, billing: Billing) -> EffectiveLimits {
        EffectiveLimits::for_tenant(
            &QuotaConfig::default(),
            licences,
            billing,
            UserLimits::default(),
        )
    }

    /// Q1, Q2, Q9: 10,000 messages and 10,000 unique recipients per user.
    #[test]
    fn q01_q02_user_limits_default_to_10000() {
        let l = limits(250, Billing::Paid);
        assert_eq!(
            (l.user_messages, l.user_unique_recipients),
            (10_000, 10_000)
        );
        assert_eq!(l.day_window, SimDuration::DAY);
    }

    /// Q4, Q5: per-licence limits below the caps, caps above them.
    #[test]
    fn q04_q05_customer_limits_scale_with_licences_up_to_the_caps() {
        let table = [
            (1, 130, 9),
            (250, 32_500, 2_250),
            (35_384, 4_599_920, 318_456),
            (36_000, 4_600_000, 319_444),
            (40_000, 4_600_000, 319_444),
        ];
        for (licences, day, peak) in table {
            let l = limits(licences, Billing::Paid);
            assert_eq!(
                (l.customer_day, l.customer_peak),
                (day, peak),
                "{licences} licences"
            );
        }
        assert_eq!(
            limits(40_000, Billing::Paid).customer_day_source,
            LimitSource::Cap
        );
        assert_eq!(limits(16, Billing::Paid).customer_peak, 144);
        assert_eq!(
            limits(10, Billing::Paid).peak_window,
            SimDuration::from_secs(600)
        );
    }

    /// Q6: an unpaid customer gets 100/day and 50/10 min (never more than paid).
    #[test]
    fn q06_unpaid_customers_get_the_lower_trial_limits() {
        let l = limits(250, Billing::Unpaid);
        assert_eq!((l.customer_day, l.customer_peak), (100, 50));
        assert_eq!((l.user_messages, l.user_unique_recipients), (1_000, 1_000));
        assert_eq!(l.customer_day_source, LimitSource::Unpaid);
        let tiny = limits(1, Billing::Unpaid);
        assert_eq!((tiny.customer_day, tiny.customer_peak), (100, 9));
    }
}
