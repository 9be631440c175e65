//! The blueprint: the YAML model users write, its loader and validation, and the resolved form
//! the planner consumes.

pub mod resolved;
