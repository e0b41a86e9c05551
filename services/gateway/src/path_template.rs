//! Path templates of `google.api.http` rules, e.g. `/v1/{name=customers/*}`:
//! parsing, and matching a request path to bind the variables.

use percent_encoding::percent_decode_str;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    Single,
    /// `**`: the rest of the path (last only).
    Rest,
}

/// A variable: the request field it binds and the segments it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Dotted field path in the request message, e.g. `customer.name`.
    pub field_path: String,
    pub start: usize,
    pub end: usize,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
    pub variables: Vec<Variable>,
    /// Custom verb after `:` (e.g. `:cancel`).
    pub verb: Option<String>,
    /// The template as written.
    pub source: String,
}

impl PathTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let body = template
            .strip_prefix('/')
            .ok_or_else(|| format!("{template:?} must start with /"))?;
        // A verb is a final `:name` outside any braces.
        let (body, verb) = match body.rfind(':') {
            Some(i) if !body[i..].contains('}') => (&body[..i], Some(body[i + 1..].to_owned())),
            _ => (body, None),
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let close = after
                    .find('}')
                    .ok_or_else(|| format!("{template:?} has an unclosed {{"))?;
                let inner = &after[..close];
                let (field_path, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_segment(part));
                }
                variables.push(Variable {
                    field_path: field_path.to_owned(),
                    start,
                    end: segments.len(),
                });
                rest = &after[close + 1..];
            } else {
                let end = rest.find('/').unwrap_or(rest.len());
                segments.push(parse_segment(&rest[..end]));
                rest = &rest[end..];
            }
            rest = rest.strip_prefix('/').unwrap_or(rest);
        }
        if segments.iter().rev().skip(1).any(|s| *s == Segment::Rest) {
            return Err(format!("{template:?}: ** may only come last"));
        }
        Ok(Self {
            segments,
            variables,
            verb,
            source: template.to_owned(),
        })
    }

    /// The variable bindings if `path` matches, values percent-decoded.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let (path, verb) = match (&self.verb, path.rsplit_once(':')) {
            (Some(_), Some((p, v))) if !v.contains('/') => (p, Some(v)),
            _ => (path, None),
        };
        if verb != self.verb.as_deref() {
            return None;
        }
        // The gateway tries every route in turn: most do not match, and
        // they are turned away without allocating.
        if !self.fits_shape(path) {
            return None;
        }
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        // Where each template segment's match ends in `parts` (the shape
        // was checked above).
        let mut i = 0;
        let ends: Vec<usize> = self
            .segments
            .iter()
            .map(|seg| {
                i = match seg {
                    Segment::Rest => parts.len(),
                    _ => i + 1,
                };
                i
            })
            .collect();
        let mut bindings = Vec::new();
        for var in &self.variables {
            let from = if var.start == 0 {
                0
            } else {
                ends[var.start - 1]
            };
            let to = ends[var.end - 1];
            let raw = parts[from..to].join("/");
            let value = percent_decode_str(&raw).decode_utf8().ok()?.into_owned();
            bindings.push((var.field_path.clone(), value));
        }
        Some(bindings)
    }

    /// Whether `path` (without its leading `/` and verb) has the template's
    /// shape: its literals where the template has them, a non-empty segment
    /// for each `*`, and nothing left over unless it ends in `**`.
    fn fits_shape(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|_| !path.is_empty());
        for seg in &self.segments {
            match seg {
                Segment::Literal(lit) => {
                    if parts.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
                Segment::Single => {
                    if parts.next().is_none_or(str::is_empty) {
                        return false;
                    }
                }
                Segment::Rest => return true,
            }
        }
        parts.next().is_none()
    }

    /// How specific the template is, to try stricter routes first.
    pub fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }
}

fn parse_segment(s: &str) -> Segment {
    match s {
        "*" => Segment::Single,
        "**" => Segment::Rest,
        lit => Segment::Literal(lit.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template).unwrap().matches(path)
    }

    #[test]
    fn literal_paths() {
        assert_eq!(bind("/v1/customers", "/v1/customers"), Some(vec![]));
        assert_eq!(bind("/v1/customers", "/v1/customers/x"), None);
        assert_eq!(bind("/v1/customers", "/v1/other"), None);
    }

    #[test]
    fn resource_name_variables() {
        assert_eq!(
            bind("/v1/{name=customers/*}", "/v1/customers/abc"),
            Some(vec![("name".into(), "customers/abc".into())])
        );
        assert_eq!(bind("/v1/{name=customers/*}", "/v1/customers"), None);
        assert_eq!(bind("/v1/{name=customers/*}", "/v1/customers/"), None);
        assert_eq!(bind("/v1/{name=customers/*}", "/v1/orders/abc"), None);
        assert_eq!(
            bind("/v1/{customer.name=customers/*}", "/v1/customers/a%20b"),
            Some(vec![("customer.name".into(), "customers/a b".into())])
        );
        assert_eq!(
            bind(
                "/v1/{name=customers/*/tierAssignment}",
                "/v1/customers/7/tierAssignment"
            ),
            Some(vec![("name".into(), "customers/7/tierAssignment".into())])
        );
    }

    #[test]
    fn plain_variables_rest_and_verbs() {
        assert_eq!(
            bind("/v1/things/{id}", "/v1/things/9"),
            Some(vec![("id".into(), "9".into())])
        );
        assert_eq!(
            bind("/v1/{path=files/**}", "/v1/files/a/b/c"),
            Some(vec![("path".into(), "files/a/b/c".into())])
        );
        assert_eq!(
            bind("/v1/{name=complaints/*}:close", "/v1/complaints/5:close"),
            Some(vec![("name".into(), "complaints/5".into())])
        );
        assert_eq!(
            bind("/v1/{name=complaints/*}:close", "/v1/complaints/5"),
            None
        );
        assert_eq!(
            bind("/v1/{name=complaints/*}", "/v1/complaints/5:close"),
            Some(vec![("name".into(), "complaints/5:close".into())])
        );
    }

    #[test]
    fn bad_templates() {
        assert!(PathTemplate::parse("v1/x").is_err());
        assert!(PathTemplate::parse("/v1/{name=x/*").is_err());
        assert!(PathTemplate::parse("/v1/**/x").is_err());
    }
}
