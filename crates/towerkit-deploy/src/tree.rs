//! The assembled stack as a tree, for `towerkit check`.

use std::fmt;

use crate::requirements::Need;

/// One element of an assembled stack and what it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    label: String,
    children: Vec<Node>,
    /// Its section, as `kind.name` (none for a server's wrapper).
    pub(crate) section: Option<String>,
    /// For a pipeline, its name: its children stand each inside the ones
    /// before it.
    pub(crate) pipeline: Option<String>,
    /// What it provides to what stands inside it (a filter).
    pub(crate) provides: Vec<String>,
    /// What it needs from the filters outside it.
    pub(crate) needs: Vec<Need>,
}

impl Node {
    pub(crate) fn new(label: String, children: Vec<Node>) -> Self {
        Node {
            label,
            children,
            section: None,
            pipeline: None,
            provides: Vec::new(),
            needs: Vec::new(),
        }
    }

    /// Puts `prefix` before the label (`"/cgi-bin" = app scripts …`).
    pub(crate) fn labelled(mut self, prefix: String) -> Self {
        self.label = format!("{prefix} {}", self.label);
        self
    }

    /// The line that shows this element.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What it contains, outermost or first first.
    pub fn children(&self) -> &[Node] {
        &self.children
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        writeln!(f, "{:indent$}{}", "", self.label, indent = depth * 2)?;
        self.children
            .iter()
            .try_for_each(|child| child.write(f, depth + 1))
    }
}

/// An indented tree, one element a line.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}
