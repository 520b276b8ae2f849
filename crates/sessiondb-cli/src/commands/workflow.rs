//! `sessiondb workflow ls|show|new|phase|checkpoint|sync`: the workflow sessions of registered projects.
//! `ls` and `show` answer from the index; `new`, `phase` and `checkpoint` change the folder's `state.json`
//! through the state manager (the files stay the truth) and then index that folder.

use super::Ctx;
use crate::exit::usage;
use anyhow::Result;
use sessiondb_core::WorkflowRow;
use sessiondb_service::{
    CheckpointOp, NewSession, Service, WorkflowQuery, WorkflowSaved, WorkflowWrite,
};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: WorkflowCommand,
    /// With new, phase and checkpoint: only write the files, leave the index to the next sync or a running
    /// serve (which watches registered projects), so the caller never waits on the database
    #[arg(long, global = true)]
    pub no_index: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum WorkflowCommand {
    /// Workflow sessions, most recently updated first
    Ls {
        /// Only this project (name or path)
        #[arg(long)]
        project: Option<String>,
        /// Only this phase (spec, plan, build, review, done, or a project's own)
        #[arg(long)]
        phase: Option<String>,
        /// Only sessions with at least this many checkpoints
        #[arg(long, value_name = "N")]
        min_checkpoints: Option<u64>,
        /// At most this many rows
        #[arg(long, short = 'n')]
        limit: Option<u64>,
        /// Skip this many rows first
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// One workflow session as indexed, with its whole state.json
    Show {
        #[arg(value_name = "PROJECT")]
        project: String,
        slug: String,
    },
    /// Create a workflow session's folder and state.json
    New {
        #[arg(value_name = "PROJECT")]
        project: String,
        slug: String,
        #[arg(long)]
        title: Option<String>,
        /// Session type (default: full)
        #[arg(long = "type", value_name = "TYPE")]
        session_type: Option<String>,
        /// First phase (default: the project's first)
        #[arg(long)]
        phase: Option<String>,
    },
    /// Move a session to a phase (one step forward, or back)
    Phase {
        #[arg(value_name = "PROJECT")]
        project: String,
        slug: String,
        phase: String,
        /// Only if state.json is still at this version (compare-and-swap)
        #[arg(long, value_name = "VERSION")]
        expect_version: Option<u64>,
    },
    /// Add a checkpoint (--add TITLE) or mark one done (--done ID)
    Checkpoint {
        #[arg(value_name = "PROJECT")]
        project: String,
        slug: String,
        #[arg(
            long,
            value_name = "TITLE",
            conflicts_with = "done",
            required_unless_present = "done"
        )]
        add: Option<String>,
        /// The new checkpoint's id (with --add; default: made up)
        #[arg(long, requires = "add")]
        id: Option<String>,
        #[arg(long, value_name = "ID")]
        done: Option<String>,
        #[arg(long, value_name = "VERSION")]
        expect_version: Option<u64>,
    },
    /// Index the workflow folders of one project (or of all) now
    Sync {
        #[arg(value_name = "PROJECT")]
        project: Option<String>,
    },
}

impl Args {
    /// Whether the command writes (and may create the database).
    pub fn writes(&self) -> bool {
        !matches!(
            self.command,
            WorkflowCommand::Ls { .. } | WorkflowCommand::Show { .. }
        )
    }
}

fn write_options(no_index: bool) -> WorkflowWrite {
    WorkflowWrite {
        source: "cli".to_owned(),
        on_save: None,
        index: !no_index,
    }
}

fn print_rows(out: &mut dyn Write, rows: &[WorkflowRow]) -> std::io::Result<()> {
    for r in rows {
        writeln!(
            out,
            "{}\t{}\t{}\t{}/{}\t{}\t{}{}",
            r.project,
            r.slug,
            r.phase.as_ref().map_or("-", |p| p.as_str()),
            r.checkpoints_done,
            r.checkpoints_total,
            r.updated_at.as_deref().unwrap_or("-"),
            r.title,
            match (&r.error, r.on_disk) {
                (_, false) => "  [gone]".to_owned(),
                (Some(e), _) => format!("  [error: {e}]"),
                _ => String::new(),
            }
        )?;
    }
    Ok(())
}

fn print_saved(ctx: &mut Ctx<'_>, saved: &WorkflowSaved) -> Result<()> {
    if ctx.json {
        ctx.print_json(saved)?;
    } else {
        writeln!(
            ctx.out,
            "{} {}: version {}, phase {}",
            saved.project,
            saved.slug,
            saved.version,
            saved
                .state
                .get("phase")
                .and_then(|p| p.as_str())
                .unwrap_or("-")
        )?;
    }
    Ok(())
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, service: &mut Service<'_>) -> Result<i32> {
    let no_index = args.no_index;
    match args.command {
        WorkflowCommand::Ls {
            project,
            phase,
            min_checkpoints,
            limit,
            offset,
        } => {
            let rows = service.workflow_list(&WorkflowQuery {
                project,
                phase,
                min_checkpoints,
                limit,
                offset,
            })?;
            if ctx.json {
                ctx.print_json(&rows)?;
            } else {
                print_rows(ctx.out, &rows)?;
            }
        }
        WorkflowCommand::Show { project, slug } => {
            let detail = service.workflow_get(&project, &slug)?;
            if ctx.json {
                ctx.print_json(&detail)?;
            } else {
                print_rows(ctx.out, std::slice::from_ref(&detail.row))?;
                if let Some(state) = &detail.state {
                    writeln!(ctx.out, "{}", serde_json::to_string_pretty(state)?)?;
                }
            }
        }
        WorkflowCommand::New {
            project,
            slug,
            title,
            session_type,
            phase,
        } => {
            let phase = match phase.as_deref() {
                Some(p) => Some(
                    sessiondb_core::workflow::Phase::parse(p)
                        .ok_or_else(|| usage("--phase must not be empty"))?,
                ),
                None => None,
            };
            let new = NewSession {
                slug,
                title,
                session_type,
                phase,
            };
            let saved = service.workflow_create(&project, &new, &write_options(no_index))?;
            print_saved(ctx, &saved)?;
        }
        WorkflowCommand::Phase {
            project,
            slug,
            phase,
            expect_version,
        } => {
            let saved = service.workflow_set_phase(
                &project,
                &slug,
                &phase,
                expect_version,
                &write_options(no_index),
            )?;
            print_saved(ctx, &saved)?;
        }
        WorkflowCommand::Checkpoint {
            project,
            slug,
            add,
            id,
            done,
            expect_version,
        } => {
            let op = match (add, done) {
                (Some(title), _) => CheckpointOp::Add { id, title },
                (None, Some(id)) => CheckpointOp::Complete { id },
                (None, None) => return Err(usage("--add TITLE or --done ID is required")),
            };
            let saved = service.workflow_checkpoint(
                &project,
                &slug,
                &op,
                expect_version,
                &write_options(no_index),
            )?;
            print_saved(ctx, &saved)?;
        }
        WorkflowCommand::Sync { project } => {
            let report = service.sync_workflows(project.as_deref())?;
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                writeln!(
                    ctx.out,
                    "{} folders: {} indexed, {} unchanged, {} renamed, {} gone, {} with errors",
                    report.folders,
                    report.indexed,
                    report.unchanged,
                    report.renamed,
                    report.gone,
                    report.issues.len()
                )?;
            }
        }
    }
    Ok(0)
}
