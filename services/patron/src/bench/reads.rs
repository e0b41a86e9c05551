//! The read paths under load: GetCustomer as each kind of caller, health
//! Checks, and the gateway's GET of a customer over HTTP/1.1. Each answer
//! is checked: an error status (in the trailers or the HTTP status), or a
//! customer other than the one asked for, or sensitive fields shown to a
//! caller who may not see them (or hidden from one who may), counts as an
//! error.

use std::sync::Arc;

use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::fixture::Caller;
use super::load::{self, Bound, Measured};

/// `connections` HTTP/2 connections to `url`, each its own.
pub async fn connections(url: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?.tcp_nodelay(true);
        channels.push(endpoint.connect().await?);
    }
    Ok(channels)
}

fn status(s: tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

/// Whether the masked view is what the caller should see.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    Masked,
    Clear,
}

/// GetCustomer of the customers in turn, as `caller`, from
/// `streams_per_connection` concurrent calls on each of `channels`.
pub async fn get_customer(
    channels: &[Channel],
    streams_per_connection: usize,
    caller: &Caller,
    customers: Arc<Vec<String>>,
    expect: Expect,
    bound: Bound,
) -> Measured {
    let channels = channels.to_vec();
    let caller = caller.clone();
    let workers = channels.len() * streams_per_connection;
    load::run(workers, bound, move |call| {
        let mut client = CustomerServiceClient::new(channels[call.worker % channels.len()].clone());
        let name = customers[call.seq as usize % customers.len()].clone();
        let request = caller.signed(pb::GetCustomerRequest { name: name.clone() });
        async move {
            let customer = client
                .get_customer(request)
                .await
                .map_err(status)?
                .into_inner();
            if customer.name != name {
                return Err(format!("asked for {name}, answered {}", customer.name));
            }
            let phone = customer.contact.map(|c| c.mobile_phone).unwrap_or_default();
            match (expect, phone.contains('*')) {
                (Expect::Masked, false) => Err(format!("{name}'s phone was not masked")),
                (Expect::Clear, true) => Err(format!("{name}'s phone was masked")),
                _ => Ok(()),
            }
        }
    })
    .await
}

/// health Check (liveness, the empty service) from `streams_per_connection`
/// concurrent calls on each of `channels`; anything but SERVING is an error.
pub async fn health_check(
    channels: &[Channel],
    streams_per_connection: usize,
    bound: Bound,
) -> Measured {
    let channels = channels.to_vec();
    let workers = channels.len() * streams_per_connection;
    load::run(workers, bound, move |call| {
        let mut client = HealthClient::new(channels[call.worker % channels.len()].clone());
        async move {
            let answer = client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map_err(status)?
                .into_inner();
            if answer.status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                Ok(())
            } else {
                Err(format!("health status {}", answer.status))
            }
        }
    })
    .await
}

/// GET /v1/customers/{id} through the gateway at `base_url`, one HTTP/1.1
/// connection per worker, `connections` workers, as `caller`.
pub async fn gateway_get(
    base_url: &str,
    connections: usize,
    caller: &Caller,
    customers: Arc<Vec<String>>,
    bound: Bound,
) -> Measured {
    // One client each: a client keeps its connection, and a worker's calls
    // follow one another, so each worker holds exactly one connection.
    let clients: Vec<reqwest::Client> = (0..connections.max(1))
        .map(|_| patron_kit::tls::http_client(std::time::Duration::from_secs(30)))
        .collect();
    let base_url = base_url.trim_end_matches('/').to_owned();
    let authorization = caller.authorization().to_owned();
    load::run(clients.len(), bound, move |call| {
        let name = &customers[call.seq as usize % customers.len()];
        let request = clients[call.worker]
            .get(format!("{base_url}/v1/{name}"))
            .header("authorization", &authorization);
        let id = name.rsplit('/').next().unwrap_or_default().to_owned();
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let code = response.status();
            let body = response.text().await.map_err(|e| e.to_string())?;
            if !code.is_success() {
                return Err(format!("HTTP {code}: {body}"));
            }
            if !body.contains(&id) {
                return Err(format!("the answer is not customer {id}"));
            }
            Ok(())
        }
    })
    .await
}
