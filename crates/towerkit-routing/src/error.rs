//! The crate's errors: a map that cannot be built, a URL that cannot be.

use std::fmt;

/// Why a map or a router cannot be built: a rule that cannot be parsed or
/// can never match, two rules in conflict, an endpoint without a service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapError {
    /// A rule is wrong by itself.
    InvalidRule {
        /// The rule, as written.
        rule: String,
        /// Its position among the rules added to the map.
        index: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A rule conflicts with another one.
    Conflict {
        /// The rule refused.
        rule: String,
        /// Its position among the rules added to the map.
        index: usize,
        /// The rule it conflicts with.
        other: String,
        /// How.
        reason: String,
    },
    /// A map option is wrong.
    InvalidOption {
        /// What is wrong.
        reason: String,
    },
    /// A router has no service for an endpoint the map names, or a service
    /// for one it does not.
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
}

impl MapError {
    pub(crate) fn rule(rule: &str, reason: impl Into<String>) -> Self {
        MapError::InvalidRule {
            rule: rule.to_owned(),
            index: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at(mut self, at: usize) -> Self {
        if let MapError::InvalidRule { index, .. } = &mut self {
            *index = Some(at);
        }
        self
    }

    /// The position of the rule the error is about among the rules added
    /// to the map, when it is about one.
    pub fn rule_index(&self) -> Option<usize> {
        match self {
            MapError::InvalidRule { index, .. } => *index,
            MapError::Conflict { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The rule the error is about, if any.
    pub fn rule_source(&self) -> Option<&str> {
        match self {
            MapError::InvalidRule { rule, .. } | MapError::Conflict { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::InvalidRule { rule, reason, .. } => write!(f, "rule `{rule}`: {reason}"),
            MapError::Conflict {
                rule,
                other,
                reason,
                ..
            } => write!(f, "rule `{rule}` conflicts with `{other}`: {reason}"),
            MapError::InvalidOption { reason } => f.write_str(reason),
            MapError::Endpoint { endpoint, reason } => {
                write!(f, "endpoint `{endpoint}`: {reason}")
            }
        }
    }
}

impl std::error::Error for MapError {}

/// Why [`url_for`](crate::url_for) cannot build a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The request did not pass through a [`Router`](crate::Router) (no
    /// [`RouteMatch`](crate::RouteMatch) in its extensions).
    NoRouter,
    /// No rule has this endpoint.
    UnknownEndpoint(String),
    /// No rule of the endpoint answers this method.
    MethodNotAllowed {
        /// The endpoint.
        endpoint: String,
        /// The method asked for.
        method: String,
    },
    /// Parameters the rule needs were not given.
    MissingParams {
        /// The endpoint.
        endpoint: String,
        /// What is missing, for the rule that lacked the fewest.
        missing: Vec<String>,
    },
    /// A parameter's value does not fit its converter.
    InvalidParam {
        /// The endpoint.
        endpoint: String,
        /// The parameter.
        param: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoRouter => f.write_str("the request did not pass through a Router"),
            BuildError::UnknownEndpoint(endpoint) => write!(f, "no rule has endpoint `{endpoint}`"),
            BuildError::MethodNotAllowed { endpoint, method } => {
                write!(f, "no rule of endpoint `{endpoint}` answers {method}")
            }
            BuildError::MissingParams { endpoint, missing } => write!(
                f,
                "endpoint `{endpoint}` needs {}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            BuildError::InvalidParam {
                endpoint,
                param,
                reason,
            } => write!(f, "endpoint `{endpoint}`, parameter `{param}`: {reason}"),
        }
    }
}

impl std::error::Error for BuildError {}
