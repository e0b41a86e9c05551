//! Where calls to one service go (the gateway's, and one service's calls to
//! another): every address the service's name resolves to, re-resolved every
//! few seconds, with each call sent to the less loaded of two addresses
//! picked at random (tonic's balancer).
//!
//! One HTTP/2 connection to a Kubernetes ClusterIP would carry every call to
//! whichever pod it first reached, leaving the other replicas idle; a headless
//! Service's name resolves to every ready pod instead, and pods that come and
//! go are picked up at the next resolution.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint, Uri};

/// Resolves a host and port to socket addresses.
pub type Resolver = Arc<
    dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The system's resolver (DNS, `/etc/hosts`).
pub fn system_resolver() -> Resolver {
    Arc::new(|host, port| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    })
}

/// A channel balancing over every address of every URL in `urls` (one URL,
/// or several separated by commas), resolved with `resolve` now and every
/// `interval`. Must be called within a Tokio runtime.
pub fn balanced_channel(
    urls: &str,
    resolve: Resolver,
    interval: Duration,
) -> anyhow::Result<Channel> {
    let targets = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(Target::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!targets.is_empty(), "no upstream URL in {urls:?}");
    let (channel, changes) = Channel::balance_channel::<String>(64);
    // Until the first resolution answers, each URL stands for itself (tonic
    // resolves it when connecting), so no call waits on an empty set.
    let mut current = BTreeSet::new();
    for target in &targets {
        let key = target.url.to_string();
        changes
            .try_send(Change::Insert(key.clone(), target.endpoint(None)))
            .map_err(|e| anyhow::anyhow!("seeding the balancer: {e}"))?;
        current.insert(key);
    }
    tokio::spawn(keep_resolving(targets, resolve, interval, changes, current));
    Ok(channel)
}

/// One configured URL.
struct Target {
    url: Uri,
    host: String,
    port: u16,
    base: Endpoint,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("{url:?} is not a URL: {e}"))?;
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("{url:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let base = Endpoint::from(uri.clone())
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        Ok(Self {
            url: uri,
            host,
            port,
            base,
        })
    }

    /// The endpoint for one resolved address (or the URL itself), keeping
    /// the URL's authority on every request.
    fn endpoint(&self, addr: Option<SocketAddr>) -> Endpoint {
        let Some(addr) = addr else {
            return self.base.clone();
        };
        let scheme = self.url.scheme_str().unwrap_or("http");
        let uri: Uri = format!("{scheme}://{addr}")
            .parse()
            .expect("a socket address makes a URL");
        Endpoint::from(uri)
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .origin(self.url.clone())
    }
}

async fn keep_resolving(
    targets: Vec<Target>,
    resolve: Resolver,
    interval: Duration,
    changes: tokio::sync::mpsc::Sender<Change<String, Endpoint>>,
    mut current: BTreeSet<String>,
) {
    loop {
        let mut wanted: BTreeMap<String, Endpoint> = BTreeMap::new();
        for target in &targets {
            let url = target.url.to_string();
            match resolve(target.host.clone(), target.port).await {
                Ok(addrs) if !addrs.is_empty() => {
                    for addr in addrs {
                        wanted.insert(format!("{url}#{addr}"), target.endpoint(Some(addr)));
                    }
                }
                outcome => {
                    // Keep what this URL had: a failed or empty answer is more
                    // often a passing DNS hiccup than every pod gone.
                    if let Err(e) = &outcome {
                        tracing::debug!(%url, error = %e, "resolving an upstream failed; keeping its addresses");
                    }
                    let had: Vec<&String> = current
                        .iter()
                        .filter(|k| **k == url || k.starts_with(&format!("{url}#")))
                        .collect();
                    if had.is_empty() {
                        wanted.insert(url.clone(), target.endpoint(None));
                    }
                    for key in had {
                        let addr = key.split_once('#').and_then(|(_, a)| a.parse().ok());
                        wanted.insert(key.clone(), target.endpoint(addr));
                    }
                }
            }
        }
        for key in current.difference(&wanted.keys().cloned().collect()) {
            if changes.send(Change::Remove(key.clone())).await.is_err() {
                return;
            }
            tracing::debug!(upstream = %key, "upstream address removed");
        }
        for (key, endpoint) in &wanted {
            if !current.contains(key) {
                if changes
                    .send(Change::Insert(key.clone(), endpoint.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
                tracing::debug!(upstream = %key, "upstream address added");
            }
        }
        current = wanted.into_keys().collect();
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = changes.closed() => return,
        }
    }
}
