//! `gazette form [--style minimal|card]`: print the embeddable subscribe
//! form (`web::embed`) in the newsletter's language.

use super::Ctx;
use crate::cli::FormStyle;
use crate::error::Result;
use crate::render::Templates;
use crate::web::embed::{snippet, Style};

pub fn run(ctx: &Ctx, style: FormStyle) -> Result<()> {
    let settings = ctx.settings()?;
    let templates = Templates::load(Some(&settings.templates_dir))?;
    let messages = templates.messages(&settings.newsletter.reading.language)?;
    let style = match style {
        FormStyle::Minimal => Style::Minimal,
        FormStyle::Card => Style::Card,
    };
    print!("{}", snippet(&settings, &messages, style));
    Ok(())
}
