//! Command-line definitions only; resolution into settings and execution live in `commands`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::render::Format;

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MOAT_GIT_REV"), ")");

const EXAMPLES: &str = "\
Examples:
  moat validate blueprints/*.yaml examples/*.yaml
  moat plan examples/quickstart.yaml --emulator
  moat plan fleet.yaml --format markdown --out plan.json --detailed-exitcode
  moat apply fleet.yaml --instance prod-eastus --auto-approve
  moat apply --plan plan.json --auto-approve
  moat audit --subscription 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10 --format sarif

Exit codes (every command): 0 success; 1 error, refusal, blocked change, verify-only drift, or a
usage error (unknown flag, bad value, missing argument); 2 only from `moat plan
--detailed-exitcode`, when there are changes; 3 only from `moat audit`, when there are findings
at or above --fail-on; 130 interrupted (Ctrl-C).";

#[derive(Debug, Parser)]
#[command(
    name = "moat",
    version = VERSION,
    about = "Harden Azure OpenAI / AI Services instances from a declarative YAML blueprint",
    long_about = "moat reads a blueprint that declares the hardened state of one or many \
Microsoft.CognitiveServices accounts (private endpoint, DNS, NSG rules, public access off, key auth \
off, least-privilege roles, diagnostics, strict content filters), compares it with live Azure \
Resource Manager state, and converges it in an order that never locks out running clients.",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// More logging on stderr: -v info, -vv every ARM request (never tokens or keys).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No colours (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check blueprints without talking to Azure: every problem as FILE:LINE:COLUMN.
    #[command(
        after_help = "Exit codes: 0 every file is valid, 1 a file has errors (in every format).\n\n\
Examples:\n  moat validate blueprints/*.yaml examples/*.yaml\n  \
moat validate fleet.yaml --format sarif > moat.sarif   # GitHub code scanning"
    )]
    Validate {
        /// Blueprint files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// text: FILE:LINE:COLUMN lines; json: a versioned object with every diagnostic; sarif:
        /// SARIF 2.1.0 for code scanning (paths relative to the working directory).
        #[arg(long, value_enum, default_value = "text")]
        format: crate::render::diagnostics::DiagnosticFormat,
    },
    /// Print the JSON Schema of the blueprint (for editors' YAML completion), of the plan JSON
    /// (`--plan`), of the `apply --format json` events (`--apply-events`) or of the audit JSON
    /// (`--audit`).
    #[command(after_help = "Examples:\n  moat schema > moat.schema.json\n  \
moat schema --plan > moat-plan.schema.json\n  \
moat schema --apply-events > moat-apply-events.schema.json\n  \
moat schema --audit > moat-audit.schema.json")]
    Schema(SchemaArgs),
    /// Show what differs between the blueprint and live ARM state.
    #[command(
        after_help = "Exit codes: 0 no changes (or changes without --detailed-exitcode), \
2 changes (with --detailed-exitcode), 1 error, blocked change or verify-only drift.\n\n\
Examples:\n  moat plan examples/quickstart.yaml --emulator\n  \
moat plan fleet.yaml --format markdown > plan.md\n  \
moat plan fleet.yaml --out plan.json --detailed-exitcode"
    )]
    Plan(PlanArgs),
    /// Converge live state to the blueprint, in dependency order, with safety gates.
    #[command(
        after_help = "Examples:\n  moat apply examples/quickstart.yaml --emulator --auto-approve\n  \
moat apply --plan plan.json --auto-approve"
    )]
    Apply(ApplyArgs),
    /// Report the security posture of every account in subscriptions or resource groups
    /// (read-only): against a blueprint for the instances it names, else the strict baseline.
    #[command(
        after_help = "Exit codes: 0 no unwaived finding at or above --fail-on, 1 error, 3 findings \
(not 2, which is `plan --detailed-exitcode`'s \"changes\").\n\n\
Examples:\n  moat audit --subscription 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10\n  \
moat audit fleet.yaml --format json > audit.json\n  \
moat audit examples/audit.yaml --emulator --seed examples/audit-seed.json --fail-on high"
    )]
    Audit(AuditArgs),
    /// Write a blueprint for the accounts found in subscriptions or resource groups (read-only):
    /// the strict baseline as profile, `existing:` and application role assignments from what
    /// is observed; with --as-is, an exception per weakness so the first plan shows no change.
    #[command(
        after_help = "Writes FILE (and strict-baseline.yaml beside it when none is there, unless \
--baseline names the baseline to import); never overwrites FILE without --force. Writes no key, token or secret.\n\n\
Exit codes: 0 written, 1 error.\n\n\
Examples:\n  moat import --subscription 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10 --out fleet.yaml\n  \
moat import --subscription 6f1f0a22-3b7e-4c2a-9d55-0c2a8e1f4b10 --resource-group rg-ai-prod --out prod.yaml --as-is"
    )]
    Import(ImportArgs),
    /// Render a saved plan (`moat plan --out`) again, without talking to Azure.
    #[command(
        after_help = "Exit codes: 0 rendered, 1 the file is unreadable, not a moat plan, or edited.\n\n\
Examples:\n  moat show plan.json\n  moat show plan.json --format markdown > plan.md"
    )]
    Show(ShowArgs),
    /// Delete named instances that moat created (never implied by editing a blueprint).
    #[command(
        after_help = "Deletes the account (ARM soft-deletes it for 48 hours) and what moat created for it: \
the DNS zone group, the private endpoint, moat's role assignments, the diagnostic setting, and moat's \
NSG rules and privatelink zones / links that no other instance uses. Never VNets, subnets, NSGs or \
workspaces. Refuses accounts without the `managed-by: moat` tag.\n\n\
Exit codes: 0 destroyed (or nothing to destroy), 1 refused, cancelled or failed.\n\n\
Example:\n  moat destroy fleet.yaml --instance dev-westeu --auto-approve"
    )]
    Destroy(DestroyArgs),
    /// Rotate the API keys of instances that keep them (`keyRotation`): the two-key swap, with
    /// the active key in a Key Vault secret (docs/rotation.md).
    #[command(
        after_help = "Per instance with `keyRotation`, from the tags of the secret's latest version: when due, regenerate the key \
clients are not using and write it as a new secret version (expiry = now + every); after the overlap, on a later run, \
regenerate the other key. Resumable after a killed run; refused where key auth is disabled; of two runs at once, \
one backs off (docs/rotation.md).\n\n\
Exit codes: 0 rotated, nothing due, or backed off (another run holds the step), 1 an error (nothing else rotated \
after it for that instance).\n\n\
Examples:\n  moat rotate moat.yaml\n  moat rotate fleet.yaml --instance dev-westeu --force"
    )]
    Rotate(RotateArgs),
    /// Run the local ARM emulator (tests, demos, benchmarks).
    #[command(
        after_help = "Examples:\n  moat emulator --listen 127.0.0.1:8943 --seed examples/quickstart-seed.json\n  \
moat emulator --reset        # forget the state `--emulator` keeps under .moat/"
    )]
    Emulator(crate::emulator::cli::EmulatorArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  moat completions bash > /etc/bash_completion.d/moat")]
    Completions { shell: clap_complete::Shell },
}

/// Where ARM is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Azure cloud (management endpoint and token scope).
    #[arg(long, value_enum, default_value = "public")]
    pub cloud: crate::arm::Cloud,
    /// Override the ARM endpoint (plain http only to loopback).
    #[arg(long, env = "MOAT_ARM_ENDPOINT")]
    pub arm_endpoint: Option<String>,
    /// Allow an --arm-endpoint that is not a known ARM host.
    #[arg(long)]
    pub allow_custom_endpoint: bool,
    /// Run against the embedded emulator (state under .moat/, seeded from
    /// examples/quickstart-seed.json on first use).
    #[arg(long, conflicts_with = "arm_endpoint")]
    pub emulator: bool,
    /// With --emulator: start from this brownfield seed (a JSON list of ARM resources) instead
    /// of the quickstart's; each seed keeps its own state under .moat/.
    #[arg(long, value_name = "FILE", requires = "emulator")]
    pub seed: Option<PathBuf>,
    /// ARM requests in flight at once.
    #[arg(long, default_value_t = crate::arm::config::DEFAULT_PARALLELISM)]
    pub parallelism: usize,
}

/// Which instances of the blueprint to work on (fleet sharding).
#[derive(Debug, Clone, Default, Args)]
pub struct Selectors {
    /// Only this instance (repeatable).
    #[arg(long = "instance", value_name = "NAME")]
    pub instances: Vec<String>,
    /// Only instances in this subscription (repeatable).
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The blueprint.
    pub file: PathBuf,
    /// Save the plan (JSON) for `moat apply --plan`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub markdown: MarkdownArgs,
    #[command(flatten)]
    pub select: Selectors,
    /// For the emulator only: the loopback origin of Key Vault data planes, to read the secrets
    /// of `keyRotation` (as `moat rotate --vault-endpoint`).
    #[arg(long, env = "MOAT_VAULT_ENDPOINT", value_name = "URL")]
    pub vault_endpoint: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Which schema `moat schema` prints (the blueprint's without a flag).
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct SchemaArgs {
    /// The plan document that `moat plan --format json` prints and `--out` saves (draft 2020-12).
    #[arg(long)]
    pub plan: bool,
    /// One line of `moat apply --format json` (draft 2020-12).
    #[arg(long)]
    pub apply_events: bool,
    /// The document that `moat audit --format json` prints (draft 2020-12).
    #[arg(long)]
    pub audit: bool,
}

/// Output format of `moat apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyFormat {
    /// The plan, progress and summary for people.
    Text,
    /// JSON lines on stdout, one per step event, then a summary line (docs/apply.md); the
    /// human report goes to stderr.
    Json,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The blueprint (optional with --plan: the plan names it).
    #[arg(required_unless_present = "plan")]
    pub file: Option<PathBuf>,
    /// Apply a saved plan, after checking that live state has not changed since.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when there is no terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Text for people, or JSON lines for pipelines (`moat schema --apply-events`).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ApplyFormat,
    #[command(flatten)]
    pub select: Selectors,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Output format of `moat audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// One block per finding, then a summary line.
    Table,
    /// A versioned JSON document (docs/audit.md).
    Json,
    /// SARIF 2.1.0 for GitHub code scanning (results at the blueprint's FILE:LINE, ARM id in
    /// their properties).
    Sarif,
    /// JUnit XML for the Azure DevOps test tab: a suite per account, a case per rule.
    Junit,
    /// Markdown for a pull-request comment or a report.
    Markdown,
}

/// The lowest severity that fails `moat audit` (exit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// A blueprint: the instances it names are judged against it (its exceptions shown as
    /// waived); every other account against the strict baseline.
    pub file: Option<PathBuf>,
    /// Audit this subscription (repeatable; default: the blueprint's subscriptions).
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// Only this resource group of each subscription (repeatable).
    #[arg(long = "resource-group", value_name = "NAME")]
    pub resource_groups: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: AuditFormat,
    /// Exit 3 when an unwaived finding is at or above this severity.
    #[arg(long, value_enum, default_value = "low")]
    pub fail_on: FailOn,
    /// For the emulator only: the loopback origin of Key Vault data planes, to read the secrets
    /// of `keyRotation` (MOAT-IM-003), as `moat rotate --vault-endpoint`.
    #[arg(long, env = "MOAT_VAULT_ENDPOINT", value_name = "URL")]
    pub vault_endpoint: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Import the accounts of this subscription (repeatable).
    #[arg(long = "subscription", value_name = "ID")]
    pub subscriptions: Vec<String>,
    /// Only this resource group of each subscription (repeatable).
    #[arg(long = "resource-group", value_name = "NAME")]
    pub resource_groups: Vec<String>,
    /// The blueprint to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Keep today's posture: an exception with a `TODO(import):` reason for each control an
    /// account violates, so the first plan shows no change.
    #[arg(long)]
    pub as_is: bool,
    /// Import this baseline (it must define the `strict` and `strict-cmk` profiles) instead of
    /// writing moat's strict baseline beside FILE; the blueprint names it relative to FILE.
    #[arg(long, value_name = "BASELINE")]
    pub baseline: Option<PathBuf>,
    /// Replace FILE when it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan.
    pub plan: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub markdown: MarkdownArgs,
}

/// How `--format markdown` fits a pull-request comment (docs/plan-format.md).
#[derive(Debug, Clone, Args)]
pub struct MarkdownArgs {
    /// With --format markdown: at most N bytes (default: the comment host's limit less a margin);
    /// what does not fit is folded, risky changes last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(crate::render::markdown::MIN_BYTES as u64..))]
    pub max_bytes: Option<u64>,
    /// With --format markdown: the host the comment goes to, whose limit is the default
    /// --max-bytes (github: 64,000 bytes; azure-devops: 148,000 bytes).
    #[arg(long, value_enum, default_value = "github")]
    pub comment_host: crate::render::markdown::CommentHost,
    /// With --format markdown: the id in the hidden first line `<!-- moat-plan: ID -->` that a
    /// bot finds its comment by (default: the blueprint's path).
    #[arg(long, value_name = "ID")]
    pub marker: Option<String>,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The blueprint.
    #[arg(default_value = "moat.yaml")]
    pub file: PathBuf,
    /// Only this instance (repeatable).
    #[arg(long = "instance", value_name = "NAME")]
    pub instances: Vec<String>,
    /// Start the next step even if it is not due yet (a new cycle, or the end of the overlap).
    #[arg(long)]
    pub force: bool,
    /// For the emulator only: a loopback origin serving Key Vault data planes under
    /// `/vaults/{vault host}/` (needs MOAT_ACCESS_TOKEN); real vaults are reached at their vaultUri.
    #[arg(long, env = "MOAT_VAULT_ENDPOINT", value_name = "URL")]
    pub vault_endpoint: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The blueprint that declares the instances.
    pub file: PathBuf,
    /// An instance to destroy (repeatable; required: destroy never picks instances itself).
    #[arg(long = "instance", value_name = "NAME", required = true)]
    pub instances: Vec<String>,
    /// Do not ask for confirmation (required when there is no terminal).
    #[arg(long)]
    pub auto_approve: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}
