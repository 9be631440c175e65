//! The pure, synchronous planner and the plan model.

pub mod model;
