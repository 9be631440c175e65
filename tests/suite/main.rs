//! moat's integration tests, in one test binary: each linked the whole crate and its
//! dependencies again, which was most of a cold build. One module per former test file, under the
//! same name (`cargo test e2e_apply::` runs what `cargo test --test e2e_apply` ran); the shared
//! helpers are modules here, used as `crate::support`, `crate::arm_support`, … Tests that change
//! process-wide state (environment, tracing, signal handlers) run in a process of their own
//! (`own_process`).

mod arm_support;
mod emulator_support;
mod own_process;
mod support;

mod alert_kql;
mod apply_executor;
mod apply_progress;
#[cfg(unix)]
mod apply_progress_pty;
mod apply_steps_in_flight;
mod arm_credential_chain;
mod arm_credentials;
mod arm_diagnostics;
mod arm_hostile;
mod arm_http;
mod arm_logging;
mod arm_lro;
mod audit_discovery;
mod blueprint_corpus;
mod blueprint_docs;
mod blueprint_fuzz;
mod blueprint_generic;
mod blueprint_guardrails;
mod blueprint_ids;
mod blueprint_limits;
mod blueprint_schema;
mod blueprint_semantics;
mod blueprint_shipped;
mod blueprint_unknown_keys;
mod cli_docs;
mod cli_exit_codes;
mod cli_quickstart;
mod distribution;
mod docs_outputs;
mod e2e_alerts;
mod e2e_apply;
mod e2e_apply_cli;
mod e2e_cmk;
mod e2e_defender;
mod e2e_fleet;
mod e2e_foreign_rule;
mod e2e_greenfield;
mod e2e_greenfield_destroy;
mod e2e_greenfield_soft_delete;
mod e2e_guardrails;
mod e2e_quickstart;
mod e2e_saved_plan;
mod e2e_shared_nsg;
mod e2e_stale_plan;
mod emulator_cognitive;
mod emulator_conformance;
mod emulator_limits;
mod emulator_network;
mod emulator_policy;
mod emulator_protocol;
mod emulator_rbac;
mod emulator_sdk_faults;
mod golden;
mod golden_apply_events;
mod golden_validate;
mod kind_conformance;
mod markdown_budget;
mod markdown_levels;
mod pipeline_examples;
mod plan_schema;
mod planner;
mod planner_alert_noise;
mod planner_guardrails;
mod planner_noise;
mod reliability_crash;
mod reliability_faults;
mod sdk_models;
mod security_endpoints;
mod security_input;
mod security_role;
mod security_secrets;
mod security_weakening;
mod structure;
