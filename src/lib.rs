//! moat: harden Azure OpenAI / AI Services instances from a declarative blueprint.
//!
//! The pipeline is visible in the module tree:
//! `blueprint` (load + validate) → `observe` (read live ARM) → `plan` (pure diff) → `apply`
//! (ordered, gated writes), with `render` drawing plans and `emulator` standing in for ARM.

pub mod apply;
pub mod arm;
pub mod audit;
pub mod blueprint;
pub mod cli;
pub mod commands;
pub mod emulator;
pub mod import;
pub mod model;
pub mod observe;
pub mod plan;
pub mod render;
pub mod report;
pub mod resources;
pub mod rotate;
pub mod sanitize;
pub mod values;
