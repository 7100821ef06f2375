//! The JSON Schema of the scenario format (`relaysim schema`), and key look-ups in it
//! for "unknown key" hints, so that the list of allowed keys has one source: the types.

use schemars::schema_for;
use serde_json::Value;

use super::Scenario;

/// The JSON Schema of scenario files, pretty-printed.
pub fn json_schema() -> String {
    let schema = schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).expect("a schema is always serialisable") + "\n"
}

/// The scenario schema, for answering "which keys may this table have?".
pub struct SchemaKeys {
    root: Value,
}

impl Default for SchemaKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaKeys {
    pub fn new() -> Self {
        SchemaKeys {
            root: schema_for!(Scenario).to_value(),
        }
    }

    /// Keys of the table reached by following `path` (table keys, array levels
    /// skipped) from the top of a scenario, sorted.
    pub fn keys_at(&self, path: &[&str]) -> Vec<String> {
        let mut node = self.resolve(&self.root);
        for key in path {
            let Some(next) = node.get("properties").and_then(|p| p.get(*key)) else {
                return Vec::new();
            };
            node = self.resolve(next);
        }
        let mut keys: Vec<String> = node
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Follows `$ref`s, picks the table alternative of `anyOf`/`oneOf` (options), and
    /// steps into array items, until it reaches a schema with properties (or gives up).
    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..16 {
            if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
                let name = reference.rsplit('/').next().unwrap_or_default();
                match self.root.get("$defs").and_then(|d| d.get(name)) {
                    Some(def) => node = def,
                    None => return node,
                }
            } else if let Some(alts) = node
                .get("anyOf")
                .or_else(|| node.get("oneOf"))
                .and_then(Value::as_array)
            {
                match alts
                    .iter()
                    .find(|a| a.get("type") != Some(&Value::from("null")))
                {
                    Some(alt) => node = alt,
                    None => return node,
                }
            } else if let Some(items) = node.get("items") {
                node = items;
            } else {
                return node;
            }
        }
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_nested_tables_come_from_the_types() {
        let keys = SchemaKeys::new();
        let top = keys.keys_at(&[]);
        assert_eq!(
            top,
            [
                "dialogue",
                "event",
                "expect",
                "mta",
                "relay",
                "sender",
                "simulation",
                "tenant"
            ]
        );
        assert!(keys.keys_at(&["tenant"]).contains(&"licences".to_string()));
        assert!(
            keys.keys_at(&["tenant", "relay_setting"])
                .contains(&"allowed_senders".to_string())
        );
        assert!(
            keys.keys_at(&["tenant", "relay_setting", "ip_ranges"])
                .contains(&"cidr".to_string())
        );
        assert!(
            keys.keys_at(&["relay", "quota"])
                .contains(&"customer_day_cap".to_string())
        );
        assert!(
            keys.keys_at(&["mta", "overrides"])
                .contains(&"queue_lifetime".to_string())
        );
        assert!(
            keys.keys_at(&["mta", "auth"])
                .contains(&"username".to_string())
        );
        assert!(
            keys.keys_at(&["sender", "recipient_pool"])
                .contains(&"zipf_exponent".to_string())
        );
    }

    #[test]
    fn the_schema_forbids_unknown_keys() {
        let schema: Value = serde_json::from_str(&json_schema()).unwrap();
        let tenant = &schema["$defs"]["Tenant"];
        assert_eq!(tenant["additionalProperties"], Value::Bool(false));
    }
}
