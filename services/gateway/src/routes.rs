//! The route table, read from the `google.api.http` option of every RPC in
//! the compiled descriptors: a new RPC with a route in `proto/` is on HTTP
//! without any gateway code.

use http::Method;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use crate::path_template::PathTemplate;

/// One HTTP binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    pub http_method: Method,
    pub template: PathTemplate,
    /// `""` (no body), `"*"` (the whole request) or a request field name.
    pub body: String,
    /// `""` (the whole response) or a response field name.
    pub response_body: String,
    pub method: MethodDescriptor,
}

impl Route {
    /// `/package.Service/Method`, the gRPC path.
    pub fn grpc_path(&self) -> String {
        format!(
            "/{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }
}

/// Every route of every service in `pool` whose package starts with `prefix`,
/// most specific first.
pub fn collect(pool: &DescriptorPool, prefix: &str) -> Result<Vec<Route>, String> {
    let Some(http_ext) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let mut routes = Vec::new();
    for service in pool
        .services()
        .filter(|s| s.full_name().starts_with(prefix))
    {
        for method in service.methods() {
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let options = method.options();
            if !options.has_extension(&http_ext) {
                continue;
            }
            let Some(rule) = options.get_extension(&http_ext).as_message().cloned() else {
                continue;
            };
            add_rule(&mut routes, &method, &rule, true)?;
        }
    }
    // Custom verbs first, then more literal segments first, so that
    // `/v1/{name=x/*}:close` wins over `/v1/{name=x/*}`.
    routes.sort_by_key(|r| {
        (
            r.template.verb.is_none(),
            std::cmp::Reverse(r.template.literal_count()),
        )
    });
    Ok(routes)
}

fn add_rule(
    routes: &mut Vec<Route>,
    method: &MethodDescriptor,
    rule: &DynamicMessage,
    top: bool,
) -> Result<(), String> {
    let text = |name: &str| {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut binding = None;
    for (field, verb) in [
        ("get", Method::GET),
        ("put", Method::PUT),
        ("post", Method::POST),
        ("delete", Method::DELETE),
        ("patch", Method::PATCH),
    ] {
        if rule.has_field_by_name(field) {
            binding = Some((verb, text(field)));
        }
    }
    if binding.is_none()
        && let Some(Value::Message(custom)) =
            rule.get_field_by_name("custom").map(|v| v.into_owned())
    {
        let part = |name: &str| {
            custom
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let verb = Method::from_bytes(part("kind").as_bytes())
            .map_err(|e| format!("{}: {e}", method.full_name()))?;
        binding = Some((verb, part("path")));
    }
    if let Some((http_method, path)) = binding {
        let template =
            PathTemplate::parse(&path).map_err(|e| format!("{}: {e}", method.full_name()))?;
        routes.push(Route {
            http_method,
            template,
            body: text("body"),
            response_body: text("response_body"),
            method: method.clone(),
        });
    }
    if top
        && let Some(Value::List(extra)) = rule
            .get_field_by_name("additional_bindings")
            .map(|v| v.into_owned())
    {
        for binding in extra.iter().filter_map(Value::as_message) {
            add_rule(routes, method, binding, false)?;
        }
    }
    Ok(())
}

/// The route for `method` and `path`, with its variable bindings. When the
/// path matches but the method does not, the allowed methods come back.
pub fn find<'a>(routes: &'a [Route], method: &Method, path: &str) -> Lookup<'a> {
    let mut allowed = Vec::new();
    for route in routes {
        if let Some(bindings) = route.template.matches(path) {
            if route.http_method == *method {
                return Lookup::Found(route, bindings);
            }
            allowed.push(route.http_method.clone());
        }
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

/// What [`find`] found.
pub enum Lookup<'a> {
    Found(&'a Route, Vec<(String, String)>),
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<Route> {
        collect(patron_kit::descriptors::pool(), "patron.").unwrap()
    }

    #[test]
    fn customer_routes_come_from_the_protos() {
        let routes = routes();
        let by_rpc = |name: &str| routes.iter().find(|r| r.method.name() == name).unwrap();
        let create = by_rpc("CreateCustomer");
        assert_eq!(create.http_method, Method::POST);
        assert_eq!(create.template.source, "/v1/customers");
        assert_eq!(create.body, "customer");
        assert_eq!(
            create.grpc_path(),
            "/patron.profile.v1.CustomerService/CreateCustomer"
        );
        let update = by_rpc("UpdateCustomer");
        assert_eq!(update.http_method, Method::PATCH);
        assert_eq!(update.template.variables[0].field_path, "customer.name");
        assert!(
            routes
                .iter()
                .any(|r| r.method.name() == "GetTierAssignment"),
            "sketched services too"
        );
    }

    #[test]
    fn lookup_distinguishes_missing_paths_from_wrong_methods() {
        let routes = routes();
        assert!(
            matches!(find(&routes, &Method::GET, "/v1/customers/abc"), Lookup::Found(r, _) if r.method.name() == "GetCustomer")
        );
        assert!(
            matches!(find(&routes, &Method::PATCH, "/v1/customers/abc"), Lookup::Found(r, _) if r.method.name() == "UpdateCustomer")
        );
        assert!(
            matches!(find(&routes, &Method::PUT, "/v1/customers/abc"), Lookup::MethodNotAllowed(m) if m.len() == 3)
        );
        assert!(matches!(
            find(&routes, &Method::GET, "/v2/nothing"),
            Lookup::NotFound
        ));
    }
}
