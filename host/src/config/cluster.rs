//! `[cluster]`: cluster mode (several nodes over one PostgreSQL database). Absent: one node on
//! the embedded redb file, the default.

use serde::Deserialize;

/// Where the cluster's database is, who this node is, and how long its lease lasts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// libpq connection string of the shared database (`host=… port=… user=… dbname=…` or
    /// `postgresql://…`). The environment variable `HOLDFAST_DATABASE_URL` overrides it.
    pub database_url: String,
    /// This node's name, unique in the cluster (letters, digits, `-`, `_`, `.`).
    pub node: String,
    /// The URL other nodes forward this node's objects' requests to (`http://host:port`).
    pub advertise: String,
    /// How long a node's lease lasts without renewal; it is renewed every third of it. A node
    /// whose lease ran out is no longer placed objects on, and stops serving its own.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Connections for reads (the committer has one more).
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Record each commit's epoch per object in `hf_commit_log` (for checking fencing; costs
    /// a row per object per commit).
    #[serde(default)]
    pub audit: bool,
}

fn default_lease_ms() -> u64 {
    3000
}

fn default_connections() -> usize {
    8
}

impl ClusterConfig {
    /// The first field that is wrong, with why.
    pub(super) fn check(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((format!("cluster.{f}"), m.to_owned()));
        if self.database_url.trim().is_empty() {
            return bad(
                "database_url",
                "must name the cluster's PostgreSQL database",
            );
        }
        if self.node.is_empty()
            || self.node.len() > 64
            || !self
                .node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(
                "node",
                "must be 1 to 64 letters, digits, `-`, `_` or `.`, unique in the cluster",
            );
        }
        if !(self.advertise.starts_with("http://") && self.advertise.len() > 7) {
            return bad(
                "advertise",
                "must be the http:// URL other nodes reach this node at, e.g. http://10.0.0.1:8787",
            );
        }
        if self.lease_ms < 300 {
            return bad("lease_ms", "must be at least 300");
        }
        if self.connections == 0 || self.connections > 256 {
            return bad("connections", "must be 1 to 256");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ClusterConfig {
        ClusterConfig {
            database_url: "host=10.0.0.1 user=postgres dbname=holdfast".into(),
            node: "n1".into(),
            advertise: "http://10.0.0.11:8787".into(),
            lease_ms: 3000,
            connections: 8,
            audit: false,
        }
    }

    #[test]
    fn each_wrong_field_is_named_with_why() {
        assert_eq!(good().check(), Ok(()));
        let cases: [(fn(&mut ClusterConfig), &str, &str); 4] = [
            (
                |c| c.node = "a b".into(),
                "cluster.node",
                "must be 1 to 64 letters, digits, `-`, `_` or `.`, unique in the cluster",
            ),
            (
                |c| c.advertise = "10.0.0.11:8787".into(),
                "cluster.advertise",
                "must be the http:// URL other nodes reach this node at, e.g. http://10.0.0.1:8787",
            ),
            (
                |c| c.lease_ms = 100,
                "cluster.lease_ms",
                "must be at least 300",
            ),
            (
                |c| c.database_url = " ".into(),
                "cluster.database_url",
                "must name the cluster's PostgreSQL database",
            ),
        ];
        for (spoil, field, message) in cases {
            let mut c = good();
            spoil(&mut c);
            assert_eq!(c.check(), Err((field.to_owned(), message.to_owned())));
        }
    }
}
