//! How hashtag and reaction items name a namespace (short code and display name), and the
//! profiles a worker keeps between calls: hashtag pages show the same authors again and again,
//! and each profile costs two index queries and a JSON parse.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::chain::Hash32;

/// How hashtag and reaction items name a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// Short code (`None` while the registration is unconfirmed) and display name.
    Known {
        short_code: Option<String>,
        display_name: String,
    },
    /// The latest profile entry is banned: the reference's `('', -1)`.
    Hidden,
}

impl Profile {
    /// The short code to show, if any (the `shortCode` field is -1 without one).
    pub fn short_code(&self) -> Option<&str> {
        match self {
            Profile::Known {
                short_code: Some(c),
                ..
            } => Some(c),
            _ => None,
        }
    }

    /// The `displayName` field.
    pub fn display_name(&self) -> &str {
        match self {
            Profile::Known { display_name, .. } => display_name,
            Profile::Hidden => "",
        }
    }

    /// The `shortCode` field: the code as a string, or -1 when there is none to show.
    pub fn short_code_json(&self) -> Value {
        match self.short_code() {
            Some(c) => Value::String(c.to_string()),
            None => json!(-1),
        }
    }

    /// The `displayName` field as a value.
    pub fn display_name_json(&self) -> Value {
        Value::String(self.display_name().to_string())
    }
}

/// Profiles of namespaces whose profile history has nothing unconfirmed, as one worker
/// computed them, valid while the index stays as it was (`PRAGMA data_version`: every block,
/// reorg and ban changes it).
#[derive(Default)]
pub struct ProfileCache {
    version: Option<i64>,
    /// Namespace → (scripthash of its profile history, profile).
    profiles: HashMap<Vec<u8>, (Hash32, Profile)>,
}

/// Namespaces whose profiles a worker keeps (about 150 bytes each).
const PROFILE_CACHE: usize = 4096;

impl ProfileCache {
    /// Forgets every profile when the index is no longer at `version`.
    pub fn validate(&mut self, version: i64) {
        if self.version != Some(version) {
            self.profiles.clear();
            self.version = Some(version);
        }
    }

    /// The scripthash of namespace `ns`'s profile history and its profile, if known.
    pub fn get(&self, ns: &[u8]) -> Option<&(Hash32, Profile)> {
        self.profiles.get(ns)
    }

    /// Remembers the profile of namespace `ns`, whose profile history is `sh`.
    pub fn insert(&mut self, ns: &[u8], sh: Hash32, profile: Profile) {
        if self.profiles.len() >= PROFILE_CACHE {
            self.profiles.clear();
        }
        self.profiles.insert(ns.to_vec(), (sh, profile));
    }
}

/// `displayName` of a profile value: JSON as is, or with single quotes turned into double
/// ones as the reference parses it; `None` when neither gives an object with a string name.
pub fn profile_display_name(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let name = |t: &str| -> Option<String> {
        let v: Value = serde_json::from_str(t).ok()?;
        v.get("displayName")?.as_str().map(str::to_string)
    };
    name(text).or_else(|| name(&text.replace('\'', "\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_fall_back_instead_of_failing() {
        assert_eq!(
            profile_display_name(br#"{"displayName":"Alice","bio":"x"}"#),
            Some("Alice".into())
        );
        assert_eq!(
            profile_display_name(b"{'displayName': 'Caz'}"),
            Some("Caz".into())
        );
        assert_eq!(
            profile_display_name(br#"{"displayName":"Bob's"}"#),
            Some("Bob's".into())
        );
        assert_eq!(profile_display_name(b"not json"), None);
        assert_eq!(profile_display_name(br#"{"bio":"no name"}"#), None);
        assert_eq!(profile_display_name(br#"{"displayName":7}"#), None);
        assert_eq!(profile_display_name(br#"["displayName"]"#), None);
        assert_eq!(profile_display_name(b"\xff\xfe"), None);
    }

    #[test]
    fn cache_forgets_when_the_index_changes() {
        let alice = Profile::Known {
            short_code: Some("3123".into()),
            display_name: "Alice".into(),
        };
        let mut cache = ProfileCache::default();
        cache.validate(7);
        cache.insert(b"ns1", [1; 32], alice.clone());
        cache.validate(7);
        assert_eq!(cache.get(b"ns1"), Some(&([1; 32], alice)));
        cache.validate(8);
        assert_eq!(cache.get(b"ns1"), None, "a commit happened since");
        for i in 0..=PROFILE_CACHE {
            cache.insert(&i.to_le_bytes(), [0; 32], Profile::Hidden);
        }
        assert!(cache.profiles.len() <= PROFILE_CACHE, "bounded");
    }
}
