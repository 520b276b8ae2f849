//! `sessiondb project add|ls|rm`: register the directories whose workflow folders (`agents/sessions/*/`)
//! `sync` indexes; `ls` shows each with its transcripts' cost and its workflow sessions by phase.

use super::Ctx;
use crate::output;
use anyhow::Result;
use sessiondb_service::Service;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ProjectCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ProjectCommand {
    /// Register a project dir (its workflow folders are indexed now and by every `sync`)
    Add {
        /// The project's directory
        path: PathBuf,
        /// Its name (default: the directory's name)
        #[arg(long)]
        name: Option<String>,
    },
    /// Registered projects with their workflow sessions by phase and their transcripts' cost
    Ls,
    /// Forget a project (by name or path); its files are untouched
    Rm {
        #[arg(value_name = "NAME_OR_PATH")]
        project: String,
    },
}

impl Args {
    /// Whether the command writes (and may create the database).
    pub fn writes(&self) -> bool {
        !matches!(self.command, ProjectCommand::Ls)
    }
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    match args.command {
        ProjectCommand::Add { path, name } => {
            let project = service.add_project(&path, name.as_deref(), "cli")?;
            let report = service.sync_workflows(Some(&project.root))?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({ "project": project, "sync": report }))?;
            } else {
                writeln!(
                    ctx.out,
                    "registered {} at {} ({} workflow sessions)",
                    project.name, project.root, report.folders
                )?;
            }
        }
        ProjectCommand::Ls => {
            let projects: Vec<_> = service
                .projects_overview()?
                .into_iter()
                .filter(|p| p.registered)
                .collect();
            if ctx.json {
                ctx.print_json(&projects)?;
            } else {
                for p in &projects {
                    let phases: Vec<String> = p
                        .workflow_by_phase
                        .iter()
                        .map(|(phase, n)| format!("{phase} {n}"))
                        .collect();
                    writeln!(
                        ctx.out,
                        "{}\t{}\t{} workflow sessions ({})\t{} Claude sessions\t{}",
                        p.name.as_deref().unwrap_or(""),
                        p.summary.project_dir.as_deref().unwrap_or(""),
                        p.workflow_sessions,
                        phases.join(", "),
                        p.summary.session_count,
                        output::usd(p.summary.cost_usd)
                    )?;
                }
            }
        }
        ProjectCommand::Rm { project } => {
            let removed = service.remove_project(&project)?;
            if ctx.json {
                ctx.print_json(&removed)?;
            } else {
                writeln!(ctx.out, "removed {} ({})", removed.name, removed.root)?;
            }
        }
    }
    Ok(0)
}
