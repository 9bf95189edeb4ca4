//! The load-time rules a declared document must pass, every refusal with its line and
//! the offending field's path (`app.organization`, `app.incident.(...on X).viewer`).
//!
//! A document is refused unless it parses and holds exactly one operation (and the
//! fragments it uses), a `query` (never a `mutation` or `subscription`) whose name is the
//! declared name, declaring `$appId: String!`, whose only root field is
//! `app(id: $appId)`; no field at any depth, through fragments too, is one of [`DENIED`];
//! no directive but `@include`/`@skip`; nesting at most [`MAX_DEPTH`] fields deep; and
//! every variable of an allowed type ([`super::variables`]).

use std::collections::HashMap;

use apollo_parser::cst::{self, CstNode, Definition, Selection};
use apollo_parser::Parser;

use super::variables::{self, Variable};

/// Fields no declared operation may select, at any depth: ways out of the app
/// (`organization`, `viewer`, …) and fields that hold secrets (`token`, `pushApiKey`, …).
pub const DENIED: &[&str] = &[
    "organization",
    "organizations",
    "viewer",
    "users",
    "token",
    "pushApiKey",
    "frontendApiKey",
    "key",
    "s3AccessKey",
    "__schema",
    "__type",
];

/// The deepest a field may be nested, `app` being 1.
pub const MAX_DEPTH: usize = 12;

/// Bounds on what the parser does with one document: declared ones are small, and a
/// client's text (bounded by `limits.max_body_size`) must not make it work harder.
pub(super) const RECURSION_LIMIT: usize = 64;
pub(super) const TOKEN_LIMIT: usize = 20_000;

/// Why a document is refused: where, and the path of the field at fault (empty when the
/// fault is the document's, not a field's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line in the document.
    pub line: usize,
    /// The field's path from the root (`app.paginatedExceptionIncidents.rows`), or a
    /// variable (`$appId`), or empty.
    pub path: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.is_empty() {
            true => write!(f, "line {}: {}", self.line, self.reason),
            false => write!(f, "line {}: `{}`: {}", self.line, self.path, self.reason),
        }
    }
}

/// Checks `text` against every rule for an operation declared as `name`; its variables
/// (but `$appId`) when it passes, else every refusal.
pub fn check(text: &str, name: &str) -> Result<Vec<Variable>, Vec<Refusal>> {
    let tree = Parser::new(text).recursion_limit(RECURSION_LIMIT).token_limit(TOKEN_LIMIT).parse();
    let mut c = Checker { text, refusals: Vec::new(), fragments: HashMap::new(), used: Vec::new() };
    for error in tree.errors() {
        c.refuse_at(error.index(), "", format!("does not parse: {}", error.message()));
    }
    if !c.refusals.is_empty() {
        return Err(c.refusals);
    }
    let document = tree.document();
    let mut operations = Vec::new();
    for definition in document.definitions() {
        match definition {
            Definition::OperationDefinition(op) => operations.push(op),
            Definition::FragmentDefinition(fragment) => {
                let Some(fragment_name) = fragment.fragment_name().and_then(|n| n.name()) else { continue };
                let fragment_name = fragment_name.text().to_string();
                if c.fragments.contains_key(&fragment_name) {
                    c.refuse(
                        fragment.syntax(),
                        "",
                        format!("the fragment `{fragment_name}` is defined twice"),
                    );
                }
                c.fragments.insert(fragment_name, fragment);
            }
            other => c.refuse(
                other.syntax(),
                "",
                "only a query and the fragments it uses may be declared, not type definitions",
            ),
        }
    }
    let variables = match operations.as_slice() {
        [op] => c.operation(op, name),
        _ => {
            let count = operations.len();
            c.refuse_at(0, "", format!("must hold exactly one operation; it holds {count}"));
            Vec::new()
        }
    };
    let unused: Vec<_> = c
        .fragments
        .iter()
        .filter(|(n, _)| !c.used.contains(n))
        .map(|(n, f)| (n.clone(), f.clone()))
        .collect();
    for (fragment_name, fragment) in unused {
        c.refuse(fragment.syntax(), "", format!("the fragment `{fragment_name}` is never used"));
    }
    match c.refusals.is_empty() {
        true => Ok(variables),
        false => {
            c.refusals.sort_by_key(|r| r.line);
            Err(c.refusals)
        }
    }
}

struct Checker<'t> {
    text: &'t str,
    refusals: Vec<Refusal>,
    fragments: HashMap<String, cst::FragmentDefinition>,
    /// Fragments reached from the operation.
    used: Vec<String>,
}

impl Checker<'_> {
    fn line(&self, offset: usize) -> usize {
        1 + self.text.as_bytes()[..offset.min(self.text.len())].iter().filter(|&&b| b == b'\n').count()
    }

    fn refuse_at(&mut self, offset: usize, path: &str, reason: impl Into<String>) {
        let line = self.line(offset);
        self.refusals.push(Refusal { line, path: path.to_owned(), reason: reason.into() });
    }

    fn refuse(&mut self, node: &apollo_parser::SyntaxNode, path: &str, reason: impl Into<String>) {
        // The first significant token: a node's range starts at its leading comments.
        let offset = node
            .descendants_with_tokens()
            .filter_map(|e| e.into_token())
            .find(|t| {
                !matches!(
                    t.kind(),
                    apollo_parser::SyntaxKind::WHITESPACE | apollo_parser::SyntaxKind::COMMENT
                )
            })
            .map_or(node.text_range().start(), |t| t.text_range().start());
        self.refuse_at(u32::from(offset) as usize, path, reason);
    }

    /// The operation's own rules; its variables.
    fn operation(&mut self, op: &cst::OperationDefinition, declared: &str) -> Vec<Variable> {
        let node = op.syntax();
        match op.operation_type() {
            None => self.refuse(node, "", "must be a named `query` (this is the anonymous shorthand)"),
            Some(t) if t.mutation_token().is_some() => {
                self.refuse(node, "", "is a `mutation`: only `query` operations are declared, never a write")
            }
            Some(t) if t.subscription_token().is_some() => {
                self.refuse(node, "", "is a `subscription`: only `query` operations are declared")
            }
            Some(_) => {}
        }
        match op.name() {
            None => self.refuse(node, "", format!("must be named `{declared}`, as declared")),
            Some(n) if n.text() != declared => {
                let found = n.text().to_string();
                self.refuse(n.syntax(), "", format!("is named `{found}`, but declared as `{declared}`"))
            }
            Some(_) => {}
        }
        self.directives(op.directives(), "");
        let variables = self.variables(op);
        match op.selection_set() {
            Some(set) => self.root(&set),
            None => self.refuse(node, "", "selects nothing"),
        }
        variables
    }

    /// `$appId: String!` and every other variable's type.
    fn variables(&mut self, op: &cst::OperationDefinition) -> Vec<Variable> {
        let mut out = Vec::new();
        let mut app_id = false;
        let definitions = op.variable_definitions().into_iter().flat_map(|d| d.variable_definitions());
        for definition in definitions {
            let Some(name) = definition.variable().and_then(|v| v.name()) else { continue };
            let name = name.text().to_string();
            let path = format!("${name}");
            if definition.directives().is_some_and(|d| d.directives().next().is_some()) {
                self.refuse(definition.syntax(), &path, "a variable takes no directive");
            }
            let Some(ty) = definition.ty() else { continue };
            if name == "appId" {
                app_id = true;
                let exact = ty.syntax().to_string().split_whitespace().collect::<String>() == "String!";
                if !exact || definition.default_value().is_some() {
                    self.refuse(
                        definition.syntax(),
                        &path,
                        "must be declared `$appId: String!`, without a default",
                    );
                }
                continue;
            }
            if out.iter().any(|v: &Variable| v.name == name) {
                self.refuse(definition.syntax(), &path, "is declared twice");
                continue;
            }
            match variables::declared(&name, &ty, definition.default_value().is_some()) {
                Ok(variable) => out.push(variable),
                Err(reason) => self.refuse(definition.syntax(), &path, reason),
            }
        }
        if !app_id {
            self.refuse(op.syntax(), "$appId", "must be declared `$appId: String!`: the app it reads");
        }
        out
    }

    /// The root selection: exactly `app(id: $appId)`.
    fn root(&mut self, set: &cst::SelectionSet) {
        let selections: Vec<Selection> = set.selections().collect();
        if selections.len() != 1 {
            self.refuse(
                set.syntax(),
                "",
                format!("the only root field must be `app(id: $appId)`; it selects {}", selections.len()),
            );
        }
        for selection in &selections {
            let Selection::Field(field) = selection else {
                self.refuse(
                    selection.syntax(),
                    "",
                    "the root selects only the field `app(id: $appId)`, no fragment",
                );
                continue;
            };
            let name = field.name().map(|n| n.text().to_string()).unwrap_or_default();
            if name != "app" {
                self.field(field, "", 1);
                self.refuse(field.syntax(), &name, "is a root field other than `app(id: $appId)`");
                continue;
            }
            let arguments: Vec<cst::Argument> =
                field.arguments().into_iter().flat_map(|a| a.arguments()).collect();
            let bound = match arguments.as_slice() {
                [argument] => {
                    argument.name().is_some_and(|n| n.text() == "id")
                        && matches!(argument.value(), Some(cst::Value::Variable(v)) if v.name().is_some_and(|n| n.text() == "appId"))
                }
                _ => false,
            };
            if !bound {
                self.refuse(
                    field.syntax(),
                    "app",
                    "must be `app(id: $appId)`: its only argument the bound app",
                );
            }
            self.field(field, "", 1);
        }
    }

    /// One field at `depth` under `parent`: denied names, directives, depth, then what
    /// it selects.
    fn field(&mut self, field: &cst::Field, parent: &str, depth: usize) {
        let name = field.name().map(|n| n.text().to_string()).unwrap_or_default();
        let path = match parent.is_empty() {
            true => name.clone(),
            false => format!("{parent}.{name}"),
        };
        if DENIED.contains(&name.as_str()) {
            self.refuse(
                field.syntax(),
                &path,
                format!("the field `{name}` is never allowed: it leads out of the app or holds a secret"),
            );
        }
        if depth > MAX_DEPTH {
            self.refuse(field.syntax(), &path, format!("is nested {depth} deep; at most {MAX_DEPTH}"));
            return;
        }
        self.directives(field.directives(), &path);
        if let Some(set) = field.selection_set() {
            self.selections(&set, &path, depth, &mut Vec::new());
        }
    }

    /// The selections of a set whose parent field is at `depth`, following fragments
    /// (`through` holds the spreads being followed, so a cycle is refused, not looped).
    fn selections(&mut self, set: &cst::SelectionSet, path: &str, depth: usize, through: &mut Vec<String>) {
        for selection in set.selections() {
            match selection {
                Selection::Field(field) => self.field(&field, path, depth + 1),
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .type_condition()
                        .and_then(|t| t.named_type())
                        .and_then(|t| t.name())
                        .map_or(String::new(), |n| format!("on {}", n.text()));
                    let inner = format!("{path}.(...{on})");
                    self.directives(inline.directives(), &inner);
                    if let Some(set) = inline.selection_set() {
                        self.selections(&set, &inner, depth, through);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let Some(name) = spread.fragment_name().and_then(|n| n.name()) else { continue };
                    let name = name.text().to_string();
                    let inner = format!("{path}.(...{name})");
                    self.directives(spread.directives(), &inner);
                    let Some(fragment) = self.fragments.get(&name).cloned() else {
                        self.refuse(
                            spread.syntax(),
                            &inner,
                            format!("names no fragment of this document: `{name}`"),
                        );
                        continue;
                    };
                    if through.contains(&name) {
                        self.refuse(spread.syntax(), &inner, "spreads itself (a fragment cycle)");
                        continue;
                    }
                    if !self.used.contains(&name) {
                        self.used.push(name.clone());
                    }
                    self.directives(fragment.directives(), &inner);
                    through.push(name);
                    if let Some(set) = fragment.selection_set() {
                        self.selections(&set, &inner, depth, through);
                    }
                    through.pop();
                }
            }
        }
    }

    /// Only `@include` and `@skip`.
    fn directives(&mut self, directives: Option<cst::Directives>, path: &str) {
        for directive in directives.into_iter().flat_map(|d| d.directives()) {
            let name = directive.name().map(|n| n.text().to_string()).unwrap_or_default();
            if name != "include" && name != "skip" {
                self.refuse(
                    directive.syntax(),
                    path,
                    format!("the directive `@{name}` is not allowed: only @include and @skip"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::builtin;

    /// Every refusal of `text` declared as `Q`, as `line: path: reason`.
    fn refusals(text: &str) -> Vec<String> {
        match check(text, "Q") {
            Ok(_) => Vec::new(),
            Err(refusals) => refusals.iter().map(Refusal::to_string).collect(),
        }
    }

    fn refused(text: &str, line: usize, path: &str, cause: &str) {
        let all = refusals(text);
        let found = all.iter().any(|r| {
            r.starts_with(&format!("line {line}: "))
                && (path.is_empty() || r.contains(&format!("`{path}`")))
                && r.contains(cause)
        });
        assert!(found, "expected line {line}, `{path}`, {cause:?}; got {all:#?}");
    }

    const OK: &str = "query Q($appId: String!, $limit: Int = 25, $state: IncidentStateEnum, $ns: [String!]) {\n  app(id: $appId) {\n    paginatedExceptionIncidents(limit: $limit, state: $state, namespaces: $ns) { total rows { number } }\n  }\n}\n";

    #[test]
    fn every_builtin_passes_with_the_contracts_variables() {
        let expected: &[(&str, &[&str])] = &[
            ("ExceptionIncidents", &["state", "order", "namespaces", "limit", "offset", "timeframe"]),
            ("PerformanceIncidents", &["state", "order", "namespaces", "limit", "offset"]),
            ("Incident", &["incidentNumber"]),
            ("DeployMarkers", &["start", "end", "timeframe", "limit"]),
        ];
        assert_eq!(builtin::DOCUMENTS.len(), expected.len());
        for ((name, document), (expected_name, variables)) in builtin::DOCUMENTS.iter().zip(expected) {
            assert_eq!(name, expected_name);
            let declared = check(document, name).unwrap_or_else(|r| panic!("{name}: {r:#?}"));
            let mut names: Vec<&str> = declared.iter().map(|v| v.name.as_str()).collect();
            names.sort_unstable();
            let mut want = variables.to_vec();
            want.sort_unstable();
            assert_eq!(names, want, "{name}");
            // What it selects, comments left out.
            let checked = crate::graphql::canonical::checked_form(document).unwrap();
            for secret in ["params", "sessionData", "environment"] {
                assert!(!checked.split(' ').any(|w| w == secret), "{name} selects {secret}");
            }
        }
    }

    #[test]
    fn a_good_document_passes() {
        let variables = check(OK, "Q").unwrap();
        assert_eq!(variables.len(), 3);
        assert!(variables.iter().all(|v| !v.required));
    }

    #[test]
    fn each_refusal_names_its_line_path_and_cause() {
        refused("mutation Q($appId: String!) { deleteApp(appId: $appId) { id } }", 1, "", "`mutation`");
        refused("subscription Q($appId: String!) { app(id: $appId) { name } }", 1, "", "`subscription`");
        refused("query Q($appId: String!) {\n  viewer { token }\n}", 2, "viewer", "never allowed");
        refused("query Q($appId: String!) {\n  viewer { token }\n}", 2, "viewer.token", "never allowed");
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) {\n    organization { apps { id } }\n  }\n}",
            3,
            "app.organization",
            "never allowed",
        );
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) { ...Leak }\n}\nfragment Leak on App {\n  name\n  pushApiKey\n}",
            6,
            "app.(...Leak).pushApiKey",
            "never allowed",
        );
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) { ... on App { frontendApiKey } }\n}",
            2,
            "app.(...on App).frontendApiKey",
            "never allowed",
        );
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) { name }\n  timezones { name }\n}",
            3,
            "timezones",
            "root field other than",
        );
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) { name }\n  timezones { name }\n}",
            1,
            "",
            "selects 2",
        );
        refused("query Q {\n  app(id: \"x\") { name }\n}", 1, "$appId", "`$appId: String!`");
        refused("query Q($appId: String) { app(id: $appId) { name } }", 1, "$appId", "`$appId: String!`");
        refused("query Q($appId: String!) { app(id: \"other\") { name } }", 1, "app", "app(id: $appId)");
        refused("query Other($appId: String!) { app(id: $appId) { name } }", 1, "", "declared as `Q`");
        refused("{ app(id: \"x\") { name } }", 1, "", "named `query`");
        refused(
            "query Q($appId: String!) { app(id: $appId) { name } }\nquery R($appId: String!) { app(id: $appId) { id } }",
            1,
            "",
            "exactly one operation",
        );
        refused(
            "query Q($appId: String!) {\n  app(id: $appId) { name @deprecated }\n}",
            2,
            "app.name",
            "`@deprecated`",
        );
        refused(
            "query Q($appId: String!, $m: [[String]]) { app(id: $appId) { name } }",
            1,
            "$m",
            "list of lists",
        );
        refused("query Q($appId: String!) { app(id: $appId) { name }", 1, "", "does not parse");
        refused(
            "query Q($appId: String!) { app(id: $appId) { name } }\nfragment Unused on App { id }",
            2,
            "",
            "never used",
        );
        refused(
            "query Q($appId: String!) { app(id: $appId) { ...A } }\nfragment A on App { ...B }\nfragment B on App { ...A }",
            3,
            "",
            "cycle",
        );
        refused(
            "query Q($appId: String!) { app(id: $appId) { __schema { types { name } } } }",
            1,
            "app.__schema",
            "never allowed",
        );
        let deep = format!(
            "query Q($appId: String!) {{ app(id: $appId) {{ {}x{} }} }}",
            "a { ".repeat(11),
            " }".repeat(11)
        );
        refused(&deep, 1, "", "at most 12");
        let ok_deep = format!(
            "query Q($appId: String!) {{ app(id: $appId) {{ {}x{} }} }}",
            "a { ".repeat(10),
            " }".repeat(10)
        );
        assert_eq!(refusals(&ok_deep), Vec::<String>::new(), "12 deep is allowed");
    }

    #[test]
    fn a_denied_field_under_an_alias_is_still_denied() {
        refused(
            "query Q($appId: String!) { app(id: $appId) { name: pushApiKey } }",
            1,
            "app.pushApiKey",
            "never allowed",
        );
    }
}
