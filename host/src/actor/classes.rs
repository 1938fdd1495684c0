//! The classes this host serves, by binding, namespace and route: one table, replaced whole by
//! a code update ([`Directory::update`](super::Directory::update)).
//!
//! Whoever holds an `Arc<Class>` from an older table (a socket's connection task, an alarm run,
//! a live actor) keeps working: the directory starts every new activation from the current
//! table, and a live actor of a replaced class is told to move (`Msg::Update`) after the events
//! before it in its mailbox.

use std::collections::HashMap;
use std::sync::Arc;

use super::hosts::Hosts;
use crate::config::StorageBackend;
use crate::runtime::Class;
use crate::store::{SqlLimits, ViewLimits};

/// A class as its objects run it: the class and, if it hosts many objects per instance, its
/// shared instances.
#[derive(Clone)]
pub struct Served {
    pub class: Arc<Class>,
    pub hosts: Option<Arc<Hosts>>,
}

/// Every class served, indexed three ways.
#[derive(Default)]
pub struct ClassTable {
    by_binding: HashMap<String, Served>,
    /// Binding by namespace (what an `ObjectKey` names).
    by_namespace: HashMap<String, String>,
    /// Binding by direct route.
    by_route: HashMap<String, String>,
}

impl ClassTable {
    /// The table of `classes` (by binding). A class that is the same `Arc` as in `previous`
    /// keeps its shared instances; a new or replaced one gets new ones (a replaced one's count
    /// on from its predecessor's counters).
    pub fn new(classes: HashMap<String, Arc<Class>>, previous: Option<&ClassTable>) -> Self {
        let mut table = ClassTable::default();
        for (binding, class) in classes {
            let before = previous.and_then(|p| p.by_binding.get(&binding));
            let hosts = (class.objects_per_instance > 1).then(|| {
                match before.and_then(|b| Some((b, b.hosts.as_ref()?))) {
                    Some((b, h)) if Arc::ptr_eq(&b.class, &class) => h.clone(),
                    Some((_, h)) => Arc::new(Hosts::succeeding(class.clone(), h)),
                    None => Arc::new(Hosts::new(class.clone())),
                }
            });
            table
                .by_namespace
                .insert(class.config.namespace.clone(), binding.clone());
            if let Some(route) = &class.config.route {
                table.by_route.insert(route.clone(), binding.clone());
            }
            table.by_binding.insert(binding, Served { class, hosts });
        }
        table
    }

    pub fn served(&self, binding: &str) -> Option<&Served> {
        self.by_binding.get(binding)
    }

    pub fn class(&self, binding: &str) -> Option<&Arc<Class>> {
        self.by_binding.get(binding).map(|s| &s.class)
    }

    pub fn served_in_namespace(&self, namespace: &str) -> Option<&Served> {
        self.by_binding.get(self.by_namespace.get(namespace)?)
    }

    pub fn class_of_route(&self, route: &str) -> Option<&Arc<Class>> {
        self.class(self.by_route.get(route)?)
    }

    /// Every class with its binding.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Served)> {
        self.by_binding.iter()
    }

    /// The routes served, sorted.
    pub fn routes(&self) -> Vec<String> {
        let mut r: Vec<String> = self.by_route.keys().cloned().collect();
        r.sort();
        r
    }
}

/// What an object of `class` may do with its storage (from the class's limits).
pub(super) fn view_limits(class: &Class) -> ViewLimits {
    let l = &class.config.limits;
    ViewLimits {
        max_key_bytes: l.max_key_bytes,
        max_value_bytes: l.max_value_bytes,
        max_keys_per_call: l.max_keys_per_call,
        max_event_write_bytes: l.max_event_write_bytes,
        max_event_write_keys: l.max_event_write_keys,
        cache_bytes: l.cache_bytes,
        max_list_bytes: l.memory_bytes(),
        sql: SqlLimits {
            enabled: class.config.storage == StorageBackend::Sqlite,
            max_database_bytes: l.max_sql_bytes,
            max_event_bytes: l.max_event_write_bytes,
            cache_bytes: l.cache_bytes,
            max_result_bytes: l.memory_bytes(),
        },
    }
}
