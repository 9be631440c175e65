//! `moat show`: a saved plan rendered again, read the way `apply --plan` reads it (bounded,
//! format version, digest and kinds checked), and never a request to Azure. Every string in it
//! is untrusted; the renderers escape them as they do for a fresh plan.

use crate::cli::ShowArgs;
use crate::render::{self, Format};

use super::{MoatError, Output};

pub fn run(args: ShowArgs, out: Output) -> Result<i32, MoatError> {
    let plan = super::saved::read(&args.plan)?;
    let color = out.color && args.format == Format::Text;
    let md = super::output::markdown_options(&args.markdown, Some(args.plan.display().to_string()));
    super::output::print_stdout(&render::render_with(&plan, args.format, color, &md));
    Ok(0)
}
