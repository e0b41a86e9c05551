//! The OpenAPI 3.1 document of every HTTP route, generated from the same
//! descriptors the gateway transcodes from, with the protos' comments as
//! descriptions, so the document cannot drift from what is served.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json, json};

use crate::path_template::Segment;
use crate::routes::Route;
use patron_kit::descriptors::{FieldBehavior, field_behaviors};

/// The document for `routes`.
pub fn document(routes: &[Route]) -> Json {
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut schemas = Schemas::default();
    for route in routes {
        let (path, path_params) = openapi_path(route);
        let operation = operation(route, &path_params, &mut schemas);
        paths
            .entry(path)
            .or_default()
            .insert(route.http_method.as_str().to_ascii_lowercase(), operation);
    }
    let mut components = schemas.done;
    components.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Patron",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "VIP and key-account customer management. Generated from the gRPC contracts in proto/; \
                            JSON follows the proto3 JSON mapping (camelCase names, RFC 3339 times, 64-bit integers as strings).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "parameters": {"AccessPurpose": access_purpose_parameter()},
        },
    })
}

/// `x-access-purpose`, forwarded to the service: why the caller reads
/// sensitive data, recorded with each read in the access audit.
fn access_purpose_parameter() -> Json {
    json!({
        "name": crate::ACCESS_PURPOSE,
        "in": "header",
        "required": false,
        "schema": {"type": "string", "maxLength": 200},
        "description": "Why the caller reads sensitive customer data (e.g. `complaint follow-up`); \
                        recorded with every read that returns sensitive fields in the clear \
                        (GET /v1/{name}/accessAudits). Visible ASCII; at most 200 characters are kept.",
    })
}

/// A path parameter: its OpenAPI name, the request field it fills, and the
/// template that value follows.
struct PathParam {
    name: String,
    field_path: String,
    pattern: String,
    /// What the parameter's value must match.
    regex: String,
}

fn openapi_path(route: &Route) -> (String, Vec<PathParam>) {
    let t = &route.template;
    let mut out = String::new();
    let mut params = Vec::new();
    for (i, seg) in t.segments.iter().enumerate() {
        out.push('/');
        let var = t.variables.iter().find(|v| (v.start..v.end).contains(&i));
        match (seg, var) {
            (Segment::Literal(lit), _) => out.push_str(lit),
            (Segment::Single | Segment::Rest, Some(var)) => {
                let wildcards = t.segments[var.start..var.end]
                    .iter()
                    .filter(|s| !matches!(s, Segment::Literal(_)))
                    .count();
                let base = var.field_path.replace('.', "_");
                let name = if wildcards > 1 {
                    format!("{base}_{}", params.len() + 1)
                } else {
                    base
                };
                out.push_str(&format!("{{{name}}}"));
                let pattern = t.segments[var.start..var.end]
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.clone(),
                        Segment::Single => "*".into(),
                        Segment::Rest => "**".into(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                // The one segment this parameter stands for: `*` is one path
                // segment, `**` the rest of the path.
                let regex = if matches!(seg, Segment::Rest) {
                    "^.+$"
                } else {
                    "^[^/]+$"
                };
                params.push(PathParam {
                    name,
                    field_path: var.field_path.clone(),
                    pattern,
                    regex: regex.to_owned(),
                });
            }
            (Segment::Single | Segment::Rest, None) => out.push_str("{segment}"),
        }
    }
    if let Some(verb) = &t.verb {
        out.push(':');
        out.push_str(verb);
    }
    (out, params)
}

fn operation(route: &Route, path_params: &[PathParam], schemas: &mut Schemas) -> Json {
    let method = &route.method;
    let input = method.input();
    let mut parameters: Vec<Json> = path_params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": "path",
                "required": true,
                "schema": {"type": "string", "pattern": p.regex},
                "description": format!("Fills `{}`, which has the form `{}`.", p.field_path, p.pattern),
            })
        })
        .collect();
    if route.body != "*" {
        let bound: BTreeSet<&str> = path_params
            .iter()
            .map(|p| p.field_path.split('.').next().unwrap_or(""))
            .collect();
        for field in input.fields() {
            if bound.contains(field.name()) || field.name() == route.body {
                continue;
            }
            query_parameters(&field, "", 0, schemas, &mut parameters);
        }
    }

    if method
        .parent_service()
        .package_name()
        .starts_with("patron.profile.")
    {
        parameters.push(json!({"$ref": "#/components/parameters/AccessPurpose"}));
    }
    let mut op = json!({
        "operationId": format!("{}_{}", method.parent_service().name(), method.name()),
        "tags": [method.parent_service().name()],
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": response_schema(route, schemas)}},
            },
            "default": {
                "description": "An error, with the gRPC status name and any field violations",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    });
    if let Some(doc) = method_comment(route) {
        op["summary"] = Json::String(doc.lines().next().unwrap_or_default().to_owned());
        op["description"] = Json::String(doc);
    }
    // An update's body carries only the fields its mask names: nothing in it
    // is required.
    schemas.partial = input.get_field_by_name("update_mask").is_some();
    let body_schema = match route.body.as_str() {
        "" => None,
        "*" => {
            let schema = schemas.message(&input);
            // Fields the path fills are not the body's to give.
            let bound: Vec<&str> = path_params
                .iter()
                .map(|p| p.field_path.split('.').next().unwrap_or(""))
                .collect();
            if bound.is_empty() {
                Some(schema)
            } else {
                Some(schemas.without(&input, &bound))
            }
        }
        field => input.get_field_by_name(field).map(|f| schemas.field(&f)),
    };
    schemas.partial = false;
    if let Some(schema) = body_schema {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    op
}

fn response_schema(route: &Route, schemas: &mut Schemas) -> Json {
    let output = route.method.output();
    if route.response_body.is_empty() {
        schemas.message(&output)
    } else {
        output
            .get_field_by_name(&route.response_body)
            .map_or(json!({}), |f| schemas.field(&f))
    }
}

/// The query parameters a request field gives: itself when it is a scalar
/// (or a string-valued well-known type), else the scalars of a singular
/// message field by dotted name (`date.year`), as the transcoder reads them.
fn query_parameters(
    field: &FieldDescriptor,
    prefix: &str,
    depth: usize,
    schemas: &mut Schemas,
    out: &mut Vec<Json>,
) {
    let name = format!("{prefix}{}", field.json_name());
    if is_query_field(field) {
        let mut param = json!({"name": name, "in": "query", "schema": schemas.field(field)});
        if let Some(doc) = comment(field) {
            param["description"] = Json::String(doc);
        }
        out.push(param);
    } else if let Kind::Message(message) = field.kind()
        && !field.is_list()
        && !field.is_map()
        && depth < 2
    {
        for inner in message.fields() {
            query_parameters(&inner, &format!("{name}."), depth + 1, schemas, out);
        }
    }
}

/// Whether a request field can be given in the query string.
fn is_query_field(field: &FieldDescriptor) -> bool {
    if field.is_map() {
        return false;
    }
    match field.kind() {
        Kind::Message(m) => is_string_wkt(&m),
        _ => true,
    }
}

fn is_string_wkt(m: &MessageDescriptor) -> bool {
    matches!(
        m.full_name(),
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask"
    )
}

/// Message schemas, collected as they are referenced.
#[derive(Default)]
struct Schemas {
    done: Map<String, Json>,
    in_progress: BTreeSet<String>,
    /// Schemas for an update's body: named `…Update`, nothing required.
    partial: bool,
}

impl Schemas {
    /// A `$ref` to `m`'s schema (or the inline form of a well-known type).
    fn message(&mut self, m: &MessageDescriptor) -> Json {
        if let Some(wkt) = well_known(m) {
            return wkt;
        }
        let name = if self.partial {
            format!("{}Update", m.full_name())
        } else {
            m.full_name().to_owned()
        };
        if !self.done.contains_key(&name) && self.in_progress.insert(name.clone()) {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in m.fields() {
                let mut schema = self.field(&field);
                let behaviours = field_behaviors(&field);
                let mut notes = Vec::new();
                if behaviours.contains(&FieldBehavior::OutputOnly)
                    || behaviours.contains(&FieldBehavior::Identifier)
                {
                    notes.push("Set by the service.");
                    if behaviours.contains(&FieldBehavior::OutputOnly) {
                        schema = with(schema, "readOnly", Json::Bool(true));
                    }
                }
                if behaviours.contains(&FieldBehavior::Required) {
                    notes.push("Required.");
                    if !self.partial && !behaviours.contains(&FieldBehavior::OutputOnly) {
                        required.push(Json::String(field.json_name().to_owned()));
                    }
                }
                if behaviours.contains(&FieldBehavior::Immutable) {
                    notes.push("Cannot change after creation.");
                }
                let doc = [comment(&field).unwrap_or_default(), notes.join(" ")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                if !doc.is_empty() {
                    schema = with(schema, "description", Json::String(doc));
                }
                properties.insert(field.json_name().to_owned(), schema);
            }
            // The gateway refuses fields a message does not have; so does the document.
            let mut schema = json!({
                "type": "object",
                "properties": properties,
                "additionalProperties": false,
            });
            if !required.is_empty() {
                schema["required"] = Json::Array(required);
            }
            if let Some(doc) = message_comment(m) {
                schema["description"] = Json::String(doc);
            }
            self.done.insert(name.clone(), schema);
            self.in_progress.remove(&name);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// `m`'s schema inline, without the fields named in `fields`.
    fn without(&mut self, m: &MessageDescriptor, fields: &[&str]) -> Json {
        let mut schema = self.message(m);
        if let Some(name) = schema["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|n| self.done.get(n))
        {
            schema = name.clone();
        }
        let json_names: Vec<String> = fields
            .iter()
            .filter_map(|f| m.get_field_by_name(f))
            .map(|f| f.json_name().to_owned())
            .collect();
        if let Some(props) = schema["properties"].as_object_mut() {
            props.retain(|k, _| !json_names.contains(k));
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.retain(|r| !json_names.iter().any(|n| r == n.as_str()));
        }
        schema
    }

    /// The schema of one field, repeated and map fields included.
    fn field(&mut self, field: &FieldDescriptor) -> Json {
        if field.is_map() {
            let entry = field.kind();
            let value = entry.as_message().map(|e| e.map_entry_value_field());
            let values = value.map_or(json!({}), |v| self.kind(&v.kind()));
            return json!({"type": "object", "additionalProperties": values});
        }
        let single = self.kind(&field.kind());
        if field.is_list() {
            json!({"type": "array", "items": single})
        } else {
            single
        }
    }

    fn kind(&mut self, kind: &Kind) -> Json {
        match kind {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "format": "byte"}),
            Kind::Enum(e) => {
                let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                json!({"type": "string", "enum": names})
            }
            Kind::Message(m) => self.message(m),
        }
    }
}

fn with(mut schema: Json, key: &str, value: Json) -> Json {
    // A `$ref` cannot carry siblings in older tools; wrap it.
    if schema.get("$ref").is_some() {
        schema = json!({"allOf": [schema]});
    }
    schema[key] = value;
    schema
}

fn well_known(m: &MessageDescriptor) -> Option<Json> {
    Some(match m.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Comma-separated field paths in camelCase."})
        }
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": "integer"}),
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => json!({"type": "number"}),
        "google.protobuf.Any" => {
            json!({"type": "object", "properties": {"@type": {"type": "string"}}})
        }
        _ => return None,
    })
}

fn error_schema() -> Json {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status."},
                    "status": {"type": "string", "description": "The gRPC status name, e.g. INVALID_ARGUMENT."},
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "@type": {"type": "string"},
                                "fieldViolations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
                "required": ["code", "status", "message"],
            },
        },
        "required": ["error"],
    })
}

/// The leading comment at `path` in `file`'s source info, tidied.
fn comment_at(file: &prost_types::FileDescriptorProto, path: &[i32]) -> Option<String> {
    let info = file.source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?.trim();
    (!text.is_empty()).then(|| text.lines().map(str::trim).collect::<Vec<_>>().join("\n"))
}

fn comment(field: &FieldDescriptor) -> Option<String> {
    comment_at(field.parent_file().file_descriptor_proto(), field.path())
}

fn message_comment(m: &MessageDescriptor) -> Option<String> {
    comment_at(m.parent_file().file_descriptor_proto(), m.path())
}

fn method_comment(route: &Route) -> Option<String> {
    comment_at(
        route.method.parent_file().file_descriptor_proto(),
        route.method.path(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Json {
        document(&crate::routes::collect(patron_kit::descriptors::pool(), "patron.").unwrap())
    }

    #[test]
    fn every_customer_route_is_documented() {
        let doc = doc();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths["/v1/customers"]["post"].is_object());
        assert!(paths["/v1/customers"]["get"].is_object());
        let item = &paths["/v1/customers/{name}"];
        assert!(item["get"].is_object() && item["delete"].is_object());
        assert!(paths["/v1/customers/{customer_name}"]["patch"].is_object());
        let create = &paths["/v1/customers"]["post"];
        assert_eq!(create["operationId"], "CustomerService_CreateCustomer");
        assert!(
            create["summary"]
                .as_str()
                .unwrap()
                .starts_with("Creates a customer archive")
        );
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/patron.profile.v1.Customer"
        );
        let list_params: Vec<&str> = paths["/v1/customers"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            // Shared parameters (x-access-purpose) are references.
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(
            list_params,
            [
                "pageSize",
                "pageToken",
                "archiveNumber",
                "displayNameContains",
                "phone",
                "accountManager",
                "idCardNumber",
                "within"
            ]
        );
        for (path, verb) in [
            ("/v1/orgUnits", "post"),
            ("/v1/staff", "get"),
            ("/v1/customers/{name}:assignAccountManager", "post"),
            ("/v1/customers/{name}:exit", "post"),
            ("/v1/customers/{customer}/serviceRecords", "post"),
        ] {
            assert!(paths[path][verb].is_object(), "{verb} {path}");
        }
    }

    #[test]
    fn the_document_says_what_the_gateway_does() {
        let doc = doc();
        let customer = &doc["components"]["schemas"]["patron.profile.v1.Customer"];
        let required: Vec<&str> = customer["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(required, ["kind", "displayName"]);
        assert_eq!(customer["additionalProperties"], false);
        // An update sends only what its mask names.
        let patch = &doc["paths"]["/v1/customers/{customer_name}"]["patch"];
        let body = &patch["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            body["$ref"],
            "#/components/schemas/patron.profile.v1.CustomerUpdate"
        );
        let update = &doc["components"]["schemas"]["patron.profile.v1.CustomerUpdate"];
        assert!(update["required"].is_null());
        assert_eq!(update["additionalProperties"], false);
        // A body of the whole request leaves out what the path fills.
        let assign = &doc["paths"]["/v1/customers/{name}:assignAccountManager"]["post"];
        let body = &assign["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"]["name"].is_null(), "{body}");
        assert!(body["properties"]["accountManager"].is_object(), "{body}");
        // Path parameters carry their patterns.
        let param = &patch["parameters"][0];
        assert_eq!(param["in"], "path");
        assert_eq!(param["schema"]["pattern"], "^[^/]+$");
    }

    #[test]
    fn a_message_in_the_query_is_documented_by_its_scalars() {
        let doc = doc();
        let params: Vec<&str> =
            doc["paths"]["/v1/customers/{name}/discountEligibility"]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
        assert_eq!(params, ["name", "date.year", "date.month", "date.day"]);
    }

    #[test]
    fn schemas_follow_proto3_json() {
        let doc = doc();
        let customer = &doc["components"]["schemas"]["patron.profile.v1.Customer"];
        let props = customer["properties"].as_object().unwrap();
        assert_eq!(props["displayName"]["type"], "string");
        assert!(
            props["displayName"]["description"]
                .as_str()
                .unwrap()
                .contains("Required.")
        );
        assert_eq!(props["createTime"]["readOnly"], true);
        assert_eq!(props["kind"]["enum"][1], "CUSTOMER_KIND_PERSON");
        assert_eq!(props["familyMembers"]["type"], "array");
        assert_eq!(
            props["productAttributes"]["additionalProperties"]["type"],
            "string"
        );
        let money = &doc["components"]["schemas"]["patron.common.v1.Money"];
        assert_eq!(
            money["properties"]["amountMinor"]["type"], "string",
            "int64 travels as a string"
        );
    }
}
