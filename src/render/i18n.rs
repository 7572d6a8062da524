//! One message catalogue per language (`templates/i18n/{lang}.toml`, built
//! in for English and German, overridable file by file): every fixed
//! sentence of the emails and pages, the month names and the date format.
//! Templates see it as `t`; keys a translation lacks fall back to English.

use std::collections::BTreeMap;

use chrono::Datelike;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The sentences of one language.
#[derive(Debug, Clone)]
pub struct Messages {
    map: BTreeMap<String, toml::Value>,
}

impl Messages {
    /// English overlaid with `lang`'s catalogue (`sources`: language →
    /// (file shown in errors, text)).
    pub(super) fn load(
        sources: &BTreeMap<String, (std::path::PathBuf, String)>,
        lang: &str,
    ) -> Result<Messages> {
        let lang = if lang.is_empty() { "en" } else { lang };
        let mut map = BTreeMap::new();
        for l in ["en", lang] {
            let Some((path, text)) = sources.get(l) else {
                let known: Vec<&str> = sources.keys().map(String::as_str).collect();
                return Err(Error::msg(format!(
                    "newsletter.language: no catalogue templates/i18n/{l}.toml (there are: {})",
                    known.join(", ")
                )));
            };
            let table: toml::Table =
                toml::from_str(text).map_err(|e| crate::config::toml_error(path, text, &e))?;
            map.extend(table);
        }
        Ok(Messages { map })
    }

    /// The sentence `key` (the key itself when no catalogue has it).
    pub fn get(&self, key: &str) -> String {
        match self.map.get(key) {
            Some(toml::Value::String(s)) => s.clone(),
            _ => key.to_string(),
        }
    }

    /// `key` with `{name}` placeholders filled.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut s = self.get(key);
        for (name, value) in values {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// The language code for `lang=` attributes.
    pub fn lang(&self) -> String {
        self.get("lang")
    }

    /// A date written in this language.
    pub fn date(&self, d: &impl Datelike) -> String {
        let month = match self.map.get("months") {
            Some(toml::Value::Array(a)) => a
                .get(d.month0() as usize)
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => d.month().to_string(),
        };
        self.get("date")
            .replace("{month}", &month)
            .replace("{day}", &d.day().to_string())
            .replace("{year}", &d.year().to_string())
    }

    /// Every sentence for templates (`t.key`), `{title}` filled in.
    pub fn context(&self, title: &str) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.map {
            if let toml::Value::String(s) = v {
                m.insert(k.clone(), Value::String(s.replace("{title}", title)));
            }
        }
        Value::Object(m)
    }
}
