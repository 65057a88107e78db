//! [`Map`]: the compiled rules, matched segment by segment.
//!
//! Rules are compiled into one tree per host pattern, after Werkzeug's state
//! machine matcher: at each segment, static text is tried first, then
//! segments with placeholders by weight (text before placeholders, longer
//! text first, `int` and `float` before `string`), then placeholders that
//! span segments (`path`), shortest first. The first rule reached whose
//! method fits wins, so the order rules are added in never matters.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Method;
use smallvec::SmallVec;

use crate::converter::{Converter, ConverterFactory};
use crate::error::MapError;
use crate::pattern::{
    decode, match_parts, parse_host, parse_path, push_encoded, split_parts, weights, Capture,
    Converters, Part, Segment, Var, ATTEMPTS,
};
use crate::rule::Rule;

/// Builds a [`Map`]: the rules, the map's settings, converters of one's own.
#[derive(Clone)]
#[must_use]
pub struct MapBuilder {
    rules: Vec<Rule>,
    strict_slashes: bool,
    merge_slashes: bool,
    host_matching: bool,
    default_subdomain: String,
    server_name: Option<String>,
    converters: HashMap<String, ConverterFactory>,
}

impl fmt::Debug for MapBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapBuilder")
            .field("rules", &self.rules)
            .field("strict_slashes", &self.strict_slashes)
            .field("merge_slashes", &self.merge_slashes)
            .field("host_matching", &self.host_matching)
            .field("default_subdomain", &self.default_subdomain)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Default for MapBuilder {
    fn default() -> Self {
        MapBuilder {
            rules: Vec::new(),
            strict_slashes: true,
            merge_slashes: true,
            host_matching: false,
            default_subdomain: String::new(),
            server_name: None,
            converters: HashMap::new(),
        }
    }
}

impl MapBuilder {
    /// Adds a rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a rule from its short spelling ([`Rule::spec`]) naming
    /// `endpoint`: `.route("GET /devices/<int:id>", "device")`.
    pub fn route(self, spec: &str, endpoint: &str) -> Result<Self, MapError> {
        Ok(self.rule(Rule::spec(spec)?.endpoint(endpoint)))
    }

    /// The default of every rule's [`strict_slashes`](Rule::strict_slashes)
    /// (true).
    pub fn strict_slashes(mut self, strict: bool) -> Self {
        self.strict_slashes = strict;
        self
    }

    /// The default of every rule's [`merge_slashes`](Rule::merge_slashes)
    /// (true).
    pub fn merge_slashes(mut self, merge: bool) -> Self {
        self.merge_slashes = merge;
        self
    }

    /// Matches each rule's [`host`](Rule::host) against the request's host
    /// (after proxy-fix): `<user>.example.com/`.
    pub fn host_matching(mut self, on: bool) -> Self {
        self.host_matching = on;
        self
    }

    /// The host the map's subdomains are below (`example.com`), for rules
    /// with a [`subdomain`](Rule::subdomain).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The subdomain of rules that name none (empty: the server name
    /// itself). Needs a [`server_name`](MapBuilder::server_name).
    pub fn default_subdomain(mut self, subdomain: impl Into<String>) -> Self {
        self.default_subdomain = subdomain.into();
        self
    }

    /// Registers a converter of one's own by name: `<name(args):var>` in a
    /// rule calls `factory` with the arguments.
    pub fn converter<F>(mut self, name: &str, factory: F) -> Self
    where
        F: Fn(&crate::converter::Args) -> Result<Arc<dyn Converter>, String>
            + Send
            + Sync
            + 'static,
    {
        self.converters.insert(name.to_owned(), Arc::new(factory));
        self
    }

    /// Compiles the rules, refusing a rule that cannot be parsed or can
    /// never match, and two rules that build the same URL for an endpoint.
    pub fn build(self) -> Result<Map, MapError> {
        compile(self).map(|inner| Map {
            inner: Arc::new(inner),
        })
    }
}

/// The compiled rules: matches requests, builds URLs. Cloning one is cheap.
#[derive(Clone)]
pub struct Map {
    pub(crate) inner: Arc<MapInner>,
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.inner.rules.iter().map(|r| &r.display))
            .finish()
    }
}

/// The rule table, one rule a line, in the order they are tried.
impl fmt::Display for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.table() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl Map {
    /// A builder with no rules.
    pub fn builder() -> MapBuilder {
        MapBuilder::default()
    }

    /// The rules, one line each (`GET,HEAD /devices/<int:id> -> device`),
    /// in the order a request tries them.
    pub fn table(&self) -> Vec<String> {
        self.matching_order()
            .into_iter()
            .map(|r| self.inner.rules[r].display.clone())
            .collect()
    }

    /// The positions of the rules (in the order they were added), in the
    /// order a request tries them: the rows of [`table`](Map::table).
    pub fn matching_order(&self) -> Vec<usize> {
        let mut order = Vec::new();
        for group in &self.inner.groups {
            self.inner.collect_order(group.root, &mut order);
        }
        order
    }

    /// The endpoints of the rules, each once, sorted.
    pub fn endpoints(&self) -> Vec<&str> {
        let mut endpoints: Vec<&str> = self.inner.by_endpoint.keys().map(|e| &**e).collect();
        endpoints.sort_unstable();
        endpoints
    }
}

pub(crate) struct Compiled {
    pub(crate) display: String,
    pub(crate) endpoint: Option<Arc<str>>,
    /// `None`: every method.
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) strict_slashes: bool,
    pub(crate) merge_slashes: bool,
    pub(crate) redirect_to: Option<Vec<Part>>,
    pub(crate) alias: bool,
    pub(crate) group: usize,
    /// Host or subdomain parts, when the rule has one.
    pub(crate) host: Option<Vec<Part>>,
    pub(crate) segments: Vec<Segment>,
    pub(crate) trailing_slash: bool,
    /// Host placeholders first, then the path's, in order.
    pub(crate) vars: Vec<Var>,
    /// The rule's path as written.
    pub(crate) path: String,
    /// The same, as the `route` label of the server's request metrics.
    pub(crate) label: Arc<str>,
    /// Where the final `path` placeholder starts (a segment index): what
    /// the router leaves as `PATH_INFO` when it dispatches.
    pub(crate) mount_at: Option<usize>,
}

impl Compiled {
    pub(crate) fn allows(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => methods.contains(method),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostMode {
    /// Hosts are not looked at.
    Any,
    /// Subdomains below the server name.
    Subdomain,
    /// Whole hosts.
    Host,
}

pub(crate) struct Group {
    /// The host or subdomain pattern; `None` matches any host.
    pattern: Option<(Vec<Part>, Vec<Var>)>,
    root: usize,
}

#[derive(Default)]
struct Node {
    /// Canonical segment text to node, sorted.
    statics: Vec<(Box<str>, usize)>,
    dynamics: Vec<DynEdge>,
    spans: Vec<SpanEdge>,
    leaves: Vec<usize>,
}

struct DynEdge {
    source: String,
    parts: Vec<Part>,
    vars: Vec<Var>,
    weights: Vec<(u8, i64)>,
    child: usize,
}

struct SpanEdge {
    source: String,
    var: Var,
    child: usize,
}

pub(crate) struct MapInner {
    pub(crate) rules: Vec<Compiled>,
    groups: Vec<Group>,
    nodes: Vec<Node>,
    /// Per endpoint, its rules in the order building tries them.
    pub(crate) by_endpoint: HashMap<Arc<str>, Vec<usize>>,
    pub(crate) mode: HostMode,
    pub(crate) server_name: Option<String>,
    /// The most placeholders a rule has.
    max_vars: usize,
}

fn compile(builder: MapBuilder) -> Result<MapInner, MapError> {
    let converters = Converters {
        own: &builder.converters,
    };
    let server_name = builder.server_name.map(|s| s.to_ascii_lowercase());
    let any_subdomain = builder.rules.iter().any(|r| r.subdomain.is_some());
    let mode = if builder.host_matching {
        HostMode::Host
    } else if server_name.is_some() {
        HostMode::Subdomain
    } else {
        if any_subdomain || !builder.default_subdomain.is_empty() {
            return Err(MapError::InvalidOption {
                reason: "subdomains need the map's server_name (the host they are below)".into(),
            });
        }
        HostMode::Any
    };
    let mut inner = MapInner {
        rules: Vec::new(),
        groups: Vec::new(),
        nodes: Vec::new(),
        by_endpoint: HashMap::new(),
        mode,
        server_name,
        max_vars: 0,
    };
    let mut group_keys: Vec<Option<String>> = Vec::new();
    for (position, rule) in builder.rules.iter().enumerate() {
        let display = rule.to_string();
        let err = |reason: String| MapError::rule(&display, reason).at(position);
        let mut vars = Vec::new();
        let host_source = match mode {
            HostMode::Any => None,
            HostMode::Subdomain => {
                if rule.host.is_some() {
                    return Err(err("a host needs the map's host_matching".into()));
                }
                Some(
                    rule.subdomain
                        .clone()
                        .unwrap_or_else(|| builder.default_subdomain.clone()),
                )
            }
            HostMode::Host => {
                if rule.subdomain.is_some() {
                    return Err(err(
                        "a subdomain rule in a map with host_matching: give the host".into(),
                    ));
                }
                rule.host.clone()
            }
        };
        if mode == HostMode::Any && rule.host.is_some() {
            return Err(err("a host needs the map's host_matching".into()));
        }
        let host = match &host_source {
            Some(source) => Some(parse_host(source, &mut vars, &converters).map_err(&err)?),
            None => None,
        };
        let host_vars = vars.len();
        let pattern = parse_path(&rule.path, &mut vars, &converters).map_err(&err)?;
        if pattern
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Span(_)))
            .count()
            > 1
        {
            return Err(err(
                "more than one placeholder spanning segments (`path`): where one ends would be a guess".into(),
            ));
        }
        let mount_at = match pattern.segments.last() {
            Some(Segment::Span(_)) if !pattern.trailing_slash => Some(pattern.segments.len() - 1),
            _ => None,
        };
        if let Some(methods) = &rule.methods {
            if methods.is_empty() {
                return Err(err("no methods: the rule could never match".into()));
            }
        }
        let methods = rule.methods.as_ref().map(|methods| {
            let mut methods = methods.clone();
            if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                methods.push(Method::HEAD);
            }
            sort_methods(&mut methods);
            methods
        });
        if rule.endpoint.is_none() && rule.redirect_to.is_none() {
            return Err(err("no endpoint (and not a redirect)".into()));
        }
        if rule.alias && rule.endpoint.is_none() {
            return Err(err("an alias needs an endpoint".into()));
        }
        if rule.alias && rule.redirect_to.is_some() {
            return Err(err("a rule is an alias or a redirect, not both".into()));
        }
        let redirect_to = match &rule.redirect_to {
            Some(target) => Some(redirect_template(target, &vars).map_err(&err)?),
            None => None,
        };
        // Which tree: one per host pattern.
        let group = match group_keys.iter().position(|k| *k == host_source) {
            Some(g) => g,
            None => {
                let pattern = match &host_source {
                    Some(source) => {
                        let mut own = Vec::new();
                        let parts = parse_host(source, &mut own, &converters).map_err(&err)?;
                        Some((parts, own))
                    }
                    None => None,
                };
                inner.nodes.push(Node::default());
                inner.groups.push(Group {
                    pattern,
                    root: inner.nodes.len() - 1,
                });
                group_keys.push(host_source.clone());
                inner.groups.len() - 1
            }
        };
        let index = inner.rules.len();
        let mut node = inner.groups[group].root;
        let mut var_index = host_vars;
        for (segment, source) in pattern.segments.iter().zip(&pattern.sources) {
            node = match segment {
                Segment::Static(text) => inner.static_child(node, text),
                Segment::Dynamic(parts) => {
                    let count = parts.iter().filter(|p| matches!(p, Part::Var(_))).count();
                    let own_vars = vars[var_index..var_index + count].to_vec();
                    let local: Vec<Part> = parts
                        .iter()
                        .map(|p| match p {
                            Part::Var(v) => Part::Var(v - var_index),
                            text => text.clone(),
                        })
                        .collect();
                    var_index += count;
                    inner.dynamic_child(node, source, local, own_vars)
                }
                Segment::Span(v) => {
                    var_index += 1;
                    inner.span_child(node, source, vars[*v].clone())
                }
            };
        }
        // Conflicts: a rule reaching the same node with the same slash and
        // overlapping methods can never match.
        for &other in &inner.nodes[node].leaves {
            let o = &inner.rules[other];
            if o.trailing_slash == pattern.trailing_slash && methods_overlap(&o.methods, &methods) {
                return Err(MapError::Conflict {
                    rule: display,
                    index: position,
                    other: o.display.clone(),
                    reason: "the same pattern and methods: one of them could never match".into(),
                });
            }
        }
        inner.nodes[node].leaves.push(index);
        let endpoint: Option<Arc<str>> = rule.endpoint.as_deref().map(Arc::from);
        inner.rules.push(Compiled {
            display: table_line(rule, &methods, &vars),
            endpoint: endpoint.clone(),
            methods,
            strict_slashes: rule.strict_slashes.unwrap_or(builder.strict_slashes),
            merge_slashes: rule.merge_slashes.unwrap_or(builder.merge_slashes),
            redirect_to,
            alias: rule.alias,
            group,
            host,
            segments: pattern.segments,
            trailing_slash: pattern.trailing_slash,
            vars,
            path: rule.path.clone(),
            label: Arc::from(rule.path.as_str()),
            mount_at,
        });
        if let Some(endpoint) = endpoint {
            inner.by_endpoint.entry(endpoint).or_default().push(index);
        }
    }
    // Same-path rules whose placeholders differ only by name (`<int:a>`
    // and `<int:b>`) shadow each other as surely as identical ones.
    inner.check_shadowed()?;
    inner.check_endpoints()?;
    inner.max_vars = inner.rules.iter().map(|r| r.vars.len()).max().unwrap_or(0);
    inner.sort();
    Ok(inner)
}

/// A rule's line in the table: `GET,HEAD /x/<int:id> -> endpoint`.
fn table_line(rule: &Rule, methods: &Option<Vec<Method>>, _vars: &[Var]) -> String {
    let mut line = Rule {
        methods: methods.clone(),
        ..rule.clone()
    }
    .to_string();
    if rule.methods.is_none() {
        line.insert_str(0, "* ");
    }
    line
}

fn redirect_template(target: &str, vars: &[Var]) -> Result<Vec<Part>, String> {
    if !(target.starts_with('/') || target.starts_with("http://") || target.starts_with("https://"))
    {
        return Err(format!(
            "redirect_to {target:?} is neither a path (`/…`) nor an http(s) URL"
        ));
    }
    split_parts(target, |inner| {
        let name = inner.trim();
        vars.iter()
            .position(|v| v.name == name)
            .ok_or_else(|| format!("redirect_to names `<{name}>`, which the rule does not have"))
    })
    .map_err(|why| format!("redirect_to: {why}"))
}

fn var_names(rule: &Compiled) -> Vec<&str> {
    let mut names: Vec<&str> = rule.vars.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    names
}

fn methods_overlap(a: &Option<Vec<Method>>, b: &Option<Vec<Method>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        _ => true,
    }
}

/// Alphabetical, the order `Allow` lists them in.
pub(crate) fn sort_methods(methods: &mut Vec<Method>) {
    methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    methods.dedup();
}

impl MapInner {
    fn new_node(&mut self) -> usize {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    fn static_child(&mut self, node: usize, text: &str) -> usize {
        match self.nodes[node]
            .statics
            .binary_search_by(|(k, _)| (**k).cmp(text))
        {
            Ok(i) => self.nodes[node].statics[i].1,
            Err(i) => {
                let child = self.new_node();
                self.nodes[node].statics.insert(i, (text.into(), child));
                child
            }
        }
    }

    fn dynamic_child(
        &mut self,
        node: usize,
        source: &str,
        parts: Vec<Part>,
        vars: Vec<Var>,
    ) -> usize {
        if let Some(edge) = self.nodes[node]
            .dynamics
            .iter()
            .find(|e| e.source == source)
        {
            return edge.child;
        }
        let child = self.new_node();
        let weights = weights(&parts, &vars);
        self.nodes[node].dynamics.push(DynEdge {
            source: source.to_owned(),
            parts,
            vars,
            weights,
            child,
        });
        child
    }

    fn span_child(&mut self, node: usize, source: &str, var: Var) -> usize {
        if let Some(edge) = self.nodes[node].spans.iter().find(|e| e.source == source) {
            return edge.child;
        }
        let child = self.new_node();
        self.nodes[node].spans.push(SpanEdge {
            source: source.to_owned(),
            var,
            child,
        });
        child
    }

    /// The rule's pattern with placeholder names left out, to find rules
    /// that differ only by names.
    fn shape(&self, r: usize) -> String {
        let rule = &self.rules[r];
        let mut shape = format!("{}|", rule.group);
        for segment in &rule.segments {
            shape.push('/');
            match segment {
                Segment::Static(text) => shape.push_str(text),
                Segment::Dynamic(parts) => {
                    for part in parts {
                        match part {
                            Part::Text(t) => shape.push_str(&t.replace('<', "<<")),
                            Part::Var(v) => {
                                shape.push('<');
                                shape.push_str(&rule.vars[*v].spec);
                                shape.push('>');
                            }
                        }
                    }
                }
                Segment::Span(v) => {
                    shape.push('<');
                    shape.push_str(&rule.vars[*v].spec);
                    shape.push('>');
                }
            }
        }
        if rule.trailing_slash {
            shape.push('/');
        }
        shape
    }

    fn check_shadowed(&self) -> Result<(), MapError> {
        let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
        for r in 0..self.rules.len() {
            let shape = self.shape(r);
            let same = seen.entry(shape).or_default();
            for &o in same.iter() {
                let (rule, other) = (&self.rules[r], &self.rules[o]);
                if methods_overlap(&rule.methods, &other.methods) {
                    return Err(MapError::Conflict {
                        rule: rule.display.clone(),
                        index: r,
                        other: other.display.clone(),
                        reason: "the same pattern (but for placeholder names) and methods: one of them could never match".into(),
                    });
                }
            }
            same.push(r);
        }
        Ok(())
    }

    /// Two rules of one endpoint with the same placeholders and methods
    /// that overlap: `url_for` could not tell which to build.
    fn check_endpoints(&self) -> Result<(), MapError> {
        for (endpoint, rules) in &self.by_endpoint {
            for (i, &a) in rules.iter().enumerate() {
                for &b in &rules[i + 1..] {
                    let (ra, rb) = (&self.rules[a], &self.rules[b]);
                    if ra.alias || rb.alias {
                        continue;
                    }
                    if var_names(ra) == var_names(rb) && methods_overlap(&ra.methods, &rb.methods) {
                        return Err(MapError::Conflict {
                            rule: rb.display.clone(),
                            index: a.max(b),
                            other: ra.display.clone(),
                            reason: format!(
                                "endpoint `{endpoint}` twice with the same arguments and methods: url_for could not choose"
                            ),
                        });
                    }
                }
            }
            // An alias redirects to a rule of its endpoint with its
            // arguments: there must be one.
            for &a in rules {
                let alias = &self.rules[a];
                if !alias.alias {
                    continue;
                }
                let covered = rules.iter().any(|&o| {
                    let other = &self.rules[o];
                    !other.alias
                        && other
                            .vars
                            .iter()
                            .all(|v| alias.vars.iter().any(|w| w.name == v.name))
                });
                if !covered {
                    return Err(MapError::rule(
                        &alias.display,
                        format!("an alias needs another rule of `{endpoint}` built from its placeholders"),
                    )
                    .at(a));
                }
            }
        }
        Ok(())
    }

    fn sort(&mut self) {
        for node in &mut self.nodes {
            node.dynamics.sort_by(|a, b| {
                a.weights
                    .cmp(&b.weights)
                    .then_with(|| b.parts.len().cmp(&a.parts.len()))
                    .then_with(|| a.source.cmp(&b.source))
            });
            node.spans.sort_by(|a, b| {
                a.var
                    .converter
                    .weight()
                    .cmp(&b.var.converter.weight())
                    .then_with(|| a.source.cmp(&b.source))
            });
        }
        let rules = &self.rules;
        for node in &mut self.nodes {
            // Rules with methods before rules with every method; then the
            // slashed one first, then as written.
            node.leaves
                .sort_by_key(|&r| (rules[r].methods.is_none(), !rules[r].trailing_slash, r));
        }
        // Hosts: patterns by weight, any host last.
        let groups = std::mem::take(&mut self.groups);
        let mut order: Vec<(usize, Group)> = groups.into_iter().enumerate().collect();
        order.sort_by(|(ia, a), (ib, b)| match (&a.pattern, &b.pattern) {
            (None, None) => ia.cmp(ib),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some((pa, va)), Some((pb, vb))) => {
                weights(pa, va).cmp(&weights(pb, vb)).then(ia.cmp(ib))
            }
        });
        let mut renumber = vec![0; order.len()];
        for (new, (old, _)) in order.iter().enumerate() {
            renumber[*old] = new;
        }
        for rule in &mut self.rules {
            rule.group = renumber[rule.group];
        }
        self.groups = order.into_iter().map(|(_, g)| g).collect();
        for rules in self.by_endpoint.values_mut() {
            // Building tries non-aliases first, then more arguments first.
            let all = &self.rules;
            rules.sort_by_key(|&r| (all[r].alias, std::cmp::Reverse(all[r].vars.len()), r));
        }
    }

    fn collect_order(&self, node: usize, out: &mut Vec<usize>) {
        let n = &self.nodes[node];
        out.extend(&n.leaves);
        for (_, child) in &n.statics {
            self.collect_order(*child, out);
        }
        for edge in &n.dynamics {
            self.collect_order(edge.child, out);
        }
        for edge in &n.spans {
            self.collect_order(edge.child, out);
        }
    }
}

/// What the request offers to match.
pub(crate) struct Query<'a> {
    /// The host, lower case, without the scheme's default port.
    pub(crate) host: &'a str,
    /// `PATH_INFO`, canonical.
    pub(crate) path: &'a str,
    pub(crate) method: &'a Method,
    /// Whether the client spelled the path with empty segments.
    pub(crate) unmerged: bool,
}

/// What matching decided.
#[derive(Debug)]
pub(crate) enum Outcome {
    Matched {
        rule: usize,
        captures: Vec<Capture>,
    },
    /// Redirect (308). `relative`: a path below the map's mount (the query
    /// is kept when `keep_query`), otherwise an absolute URL.
    Redirect {
        target: String,
        relative: bool,
        keep_query: bool,
    },
    /// The path matches, not with this method.
    MethodNotAllowed(Vec<Method>),
    /// `OPTIONS` on a path whose rules do not answer it themselves.
    Options(Vec<Method>),
    NotFound,
}

struct Walk<'a> {
    segments: SmallVec<[&'a str; 8]>,
    trailing: bool,
    method: &'a Method,
    captures: Vec<Capture>,
    /// Rules whose path matched with other methods (methods collected only
    /// when the answer is 405 or `OPTIONS`).
    other_methods: SmallVec<[usize; 4]>,
    /// How many placeholders a rule has at most (the captures' capacity).
    max_vars: usize,
    /// Converter attempts left (see [`ATTEMPTS`]).
    budget: u32,
}

impl MapInner {
    /// The subdomain of `host` below the server name, `None` when the host
    /// is not below it.
    fn subdomain<'h>(&self, host: &'h str) -> Option<&'h str> {
        let name = self.server_name.as_deref()?;
        let bare = strip_port(host);
        let server = strip_port(name);
        if bare == server {
            Some("")
        } else {
            bare.strip_suffix(server)?.strip_suffix('.')
        }
    }

    pub(crate) fn find(&self, q: &Query<'_>) -> Outcome {
        let path = q.path;
        let mut w = Walk {
            segments: path.split('/').filter(|s| !s.is_empty()).collect(),
            trailing: path.ends_with('/'),
            method: q.method,
            captures: Vec::new(),
            other_methods: SmallVec::new(),
            max_vars: self.max_vars,
            budget: ATTEMPTS,
        };
        let subdomain = match self.mode {
            HostMode::Subdomain => self.subdomain(q.host),
            _ => None,
        };
        let mut found = None;
        for group in &self.groups {
            w.captures.clear();
            if let Some((parts, vars)) = &group.pattern {
                let text = match self.mode {
                    HostMode::Subdomain => match subdomain {
                        Some(sub) => sub,
                        None => continue,
                    },
                    _ => q.host,
                };
                if !match_parts(parts, vars, text, &mut w.captures, &mut w.budget) {
                    continue;
                }
            }
            if let Some(hit) = self.walk(group.root, 0, false, &mut w) {
                found = Some(hit);
                break;
            }
        }
        match found {
            Some(Hit::Rule(rule)) => self.matched(rule, w.captures, q),
            Some(Hit::SlashRequired) => {
                let mut target = String::with_capacity(path.len() + 1);
                target.push_str(path);
                target.push('/');
                Outcome::Redirect {
                    target,
                    relative: true,
                    keep_query: true,
                }
            }
            None => {
                if w.other_methods.is_empty() {
                    return Outcome::NotFound;
                }
                let mut allowed: Vec<Method> = w
                    .other_methods
                    .iter()
                    .flat_map(|&r| self.rules[r].methods.iter().flatten().cloned())
                    .collect();
                allowed.push(Method::OPTIONS);
                sort_methods(&mut allowed);
                if q.method == Method::OPTIONS {
                    Outcome::Options(allowed)
                } else {
                    Outcome::MethodNotAllowed(allowed)
                }
            }
        }
    }

    fn matched(&self, r: usize, captures: Vec<Capture>, q: &Query<'_>) -> Outcome {
        let rule = &self.rules[r];
        if let Some(template) = &rule.redirect_to {
            let mut target = String::new();
            for part in template {
                match part {
                    Part::Text(t) => target.push_str(t),
                    Part::Var(v) => {
                        let var = &rule.vars[*v];
                        let text = var
                            .converter
                            .format(&captures[*v].value)
                            .unwrap_or_else(|_| captures[*v].text().into_owned());
                        push_encoded(&text, &mut target, var.converter.spans_segments());
                    }
                }
            }
            let relative = target.starts_with('/');
            return Outcome::Redirect {
                target,
                relative,
                keep_query: false,
            };
        }
        if rule.alias {
            if let Some(target) = self.alias_target(r, &captures, q) {
                return Outcome::Redirect {
                    target,
                    relative: true,
                    keep_query: true,
                };
            }
        }
        if rule.merge_slashes && q.unmerged {
            return Outcome::Redirect {
                target: q.path.to_owned(),
                relative: true,
                keep_query: true,
            };
        }
        Outcome::Matched { rule: r, captures }
    }

    fn alias_target(&self, r: usize, captures: &[Capture], q: &Query<'_>) -> Option<String> {
        let rule = &self.rules[r];
        let endpoint = rule.endpoint.as_deref()?;
        let params: crate::build::Params = rule
            .vars
            .iter()
            .zip(captures)
            .map(|(v, c)| (v.name.clone(), c.value.clone()))
            .collect();
        self.build_path(endpoint, &params, Some(q.method))
            .ok()
            .map(|built| built.path)
    }

    fn walk(&self, node: usize, i: usize, slash_taken: bool, w: &mut Walk<'_>) -> Option<Hit> {
        self.walk_kinds(node, i, slash_taken, w, ALL_KINDS)
    }

    /// [`walk`](Self::walk), trying at this node only the kinds of edges
    /// in `kinds` (deeper nodes try all).
    fn walk_kinds(
        &self,
        node: usize,
        i: usize,
        slash_taken: bool,
        w: &mut Walk<'_>,
        kinds: u8,
    ) -> Option<Hit> {
        let n = &self.nodes[node];
        let Some(&segment) = w.segments.get(i) else {
            if kinds & LEAVES == 0 {
                return None;
            }
            return self.at_end(n, w.trailing && !slash_taken, false, w);
        };
        if kinds & STATICS != 0 {
            if let Some(child) = lookup(&n.statics, segment) {
                if let Some(r) = self.walk(child, i + 1, false, w) {
                    return Some(r);
                }
            }
        }
        if kinds & DYNAMICS != 0 && !n.dynamics.is_empty() {
            let text = decode(segment);
            if w.captures.capacity() == 0 {
                w.captures.reserve_exact(w.max_vars);
            }
            for edge in &n.dynamics {
                let mark = w.captures.len();
                if match_parts(
                    &edge.parts,
                    &edge.vars,
                    &text,
                    &mut w.captures,
                    &mut w.budget,
                ) {
                    if let Some(r) = self.walk(edge.child, i + 1, false, w) {
                        return Some(r);
                    }
                    w.captures.truncate(mark);
                }
            }
        }
        if kinds & SPANS != 0 {
            for edge in &n.spans {
                if let Some(r) = self.span(edge, i, w) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// A placeholder spanning segments from `i`: after Werkzeug, what
    /// follows it is tried static text first (for every length of the
    /// span, shortest first), then placeholders, then further spans, and
    /// the rule ending with the span last.
    fn span(&self, edge: &SpanEdge, i: usize, w: &mut Walk<'_>) -> Option<Hit> {
        for kinds in [STATICS, DYNAMICS, SPANS, LEAVES] {
            let mut joined = String::new();
            for end in i + 1..=w.segments.len() {
                if end > i + 1 {
                    joined.push('/');
                }
                joined.push_str(&decode(w.segments[end - 1]));
                let last = end == w.segments.len();
                if kinds != LEAVES {
                    if last {
                        // Nothing left for what follows the span.
                        break;
                    }
                    // Parse the span's value only when what follows can
                    // take the next segment.
                    let child = &self.nodes[edge.child];
                    let next = w.segments[end];
                    let promising = match kinds {
                        STATICS => lookup(&child.statics, next).is_some(),
                        DYNAMICS => !child.dynamics.is_empty(),
                        _ => !child.spans.is_empty(),
                    };
                    if !promising {
                        continue;
                    }
                    if let Some(hit) = self.span_value(edge, &joined, w, |this, w| {
                        this.walk_kinds(edge.child, end, false, w, kinds)
                    }) {
                        return Some(hit);
                    }
                    continue;
                }
                if !last {
                    continue;
                }
                // The span ends the path: with a trailing slash, a rule
                // ending in `/` takes the value without it, a rule without
                // takes it with it, then rules without strict slashes.
                let child = &self.nodes[edge.child];
                let tries: &[(bool, bool)] = if w.trailing {
                    &[(false, true), (true, true), (false, false)]
                } else {
                    &[(false, false)]
                };
                for &(take_slash, exact_only) in tries {
                    let text = if take_slash {
                        format!("{joined}/")
                    } else {
                        joined.clone()
                    };
                    let trailing = w.trailing && !take_slash;
                    if let Some(hit) = self.span_value(edge, &text, w, |this, w| {
                        this.at_end(child, trailing, exact_only, w)
                    }) {
                        return Some(hit);
                    }
                }
            }
        }
        None
    }

    /// Parses `text` with the span's converter and, if it matches, goes on
    /// with the value captured.
    fn span_value(
        &self,
        edge: &SpanEdge,
        text: &str,
        w: &mut Walk<'_>,
        then: impl FnOnce(&Self, &mut Walk<'_>) -> Option<Hit>,
    ) -> Option<Hit> {
        if w.budget == 0 {
            return None;
        }
        w.budget -= 1;
        let value = edge.var.converter.parse(text)?;
        if w.captures.capacity() == 0 {
            w.captures.reserve_exact(w.max_vars);
        }
        w.captures.push(Capture::new(value, text));
        let hit = then(self, w);
        if hit.is_none() {
            w.captures.pop();
        }
        hit
    }

    /// The rules ending at node `n`, after Werkzeug: those whose trailing
    /// slash agrees with the path's; then (unless `exact_only`) a rule
    /// ending in `/` asked without it (a redirect when its slashes are
    /// strict) or a rule without strict slashes asked with one. Methods
    /// that did not fit are recorded for the 405.
    fn at_end(&self, n: &Node, trailing: bool, exact_only: bool, w: &mut Walk<'_>) -> Option<Hit> {
        for &r in &n.leaves {
            let rule = &self.rules[r];
            if rule.trailing_slash != trailing {
                continue;
            }
            if rule.allows(w.method) {
                return Some(Hit::Rule(r));
            }
            w.other_methods.push(r);
        }
        if exact_only {
            return None;
        }
        for &r in &n.leaves {
            let rule = &self.rules[r];
            if rule.trailing_slash == trailing || (trailing && rule.strict_slashes) {
                continue;
            }
            if !rule.allows(w.method) {
                w.other_methods.push(r);
                continue;
            }
            return Some(if rule.trailing_slash && rule.strict_slashes {
                Hit::SlashRequired
            } else {
                Hit::Rule(r)
            });
        }
        None
    }
}

/// Where a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hit {
    Rule(usize),
    /// A rule ending in `/` matched the path without it.
    SlashRequired,
}

const STATICS: u8 = 1;
const DYNAMICS: u8 = 2;
const SPANS: u8 = 4;
const LEAVES: u8 = 8;
const ALL_KINDS: u8 = STATICS | DYNAMICS | SPANS | LEAVES;

fn lookup(statics: &[(Box<str>, usize)], segment: &str) -> Option<usize> {
    if statics.len() <= 32 {
        // Length and first byte first: most keys differ there, and both
        // are cheaper than a comparison of the text.
        let first = segment.as_bytes().first();
        statics
            .iter()
            .find(|(k, _)| {
                k.len() == segment.len() && k.as_bytes().first() == first && **k == *segment
            })
            .map(|(_, c)| *c)
    } else {
        statics
            .binary_search_by(|(k, _)| (**k).cmp(segment))
            .ok()
            .map(|i| statics[i].1)
    }
}

/// `example.com:8080` → `example.com` (`[::1]:80` → `[::1]`).
pub(crate) fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}
