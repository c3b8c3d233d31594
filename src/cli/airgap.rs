//! `seedforge airgap`: one k3s airgap image archive from a layout.

use super::common::{
    CliError, ExitCode, Global, Kind, layout_dir, print_json, progress, read_lock_output,
};
use clap::Args;
use seedforge::image::ImageList;
use seedforge::oci::archive::{ArchiveFormat, ArchiveOptions, Compression, write_archive};
use seedforge::oci::stamps::BlobStamps;
use seedforge::oci::{Layout, Platform};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct AirgapArgs {
    /// The OCI layout to read.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,
    /// The archive to write, e.g. k3s-airgap-images-amd64.tar.zst.
    #[arg(short, long, value_name = "FILE")]
    out: PathBuf,
    /// Only the images these lists name (their destinations); default: every image. `-`
    /// reads a list from standard input.
    #[arg(long = "images", value_name = "LIST", num_args = 1..)]
    images: Vec<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = FormatArg::Oci)]
    format: FormatArg,
    /// Compression [default: from the --out file name].
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
    /// Compression level (zstd 1-19, gzip 1-9) [default: zstd 3, gzip 6].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: Option<i32>,
    /// zstd compression threads; the output is the same for any value.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Platform to keep, OS/ARCH[/VARIANT], or `all` for every platform an image offers
    /// (as `crane --platform all`, `skopeo copy --all`); several as a comma list
    /// (linux/amd64,linux/arm64) or by repeating the flag.
    #[arg(
        long = "platform",
        value_name = "PLATFORM",
        default_value = "linux/amd64",
        value_delimiter = ',',
        value_parser = Platform::parse_selector
    )]
    platforms: Vec<Platform>,
    /// Modification time of every entry [default: $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    source_date_epoch: Option<u64>,
    /// Also compute and print the archive's sha256. Without it, a plain .tar's layers are
    /// copied by the kernel without passing through seedforge.
    #[arg(long)]
    sha256: bool,
    /// Fail at once (exit 75) if a build is writing to the output DIR belongs to, instead
    /// of waiting for it (DIR is read under its build lock, shared: other readers do not
    /// wait).
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum FormatArg {
    /// A tar of an OCI image layout.
    Oci,
    /// The `docker save` format.
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompressionArg {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd (within k3s's decoder limits).
    Zstd,
}

pub(crate) fn airgap_cmd(g: &Global, a: &AirgapArgs) -> Result<ExitCode, CliError> {
    let from_name = Compression::from_path(&a.out);
    let compression = match (a.compression, from_name) {
        (Some(flag), _) => match flag {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        (None, Some(c)) => c,
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{}: cannot tell the compression from the file name; name it .tar, .tar.gz or .tar.zst, or pass --compression",
                a.out.display()
            )));
        }
    };
    let level = a.level.unwrap_or(compression.default_level());
    compression.check_level(level).map_err(CliError::Usage)?;
    let images = if a.images.is_empty() {
        None
    } else {
        let merged = ImageList::load_all(&a.images)?;
        Some(
            merged
                .entries
                .iter()
                .map(|e| e.destination.to_string())
                .collect(),
        )
    };
    let options = ArchiveOptions {
        format: match a.format {
            FormatArg::Oci => ArchiveFormat::Oci,
            FormatArg::Docker => ArchiveFormat::Docker,
        },
        compression,
        level,
        threads: a.threads,
        platforms: a.platforms.clone(),
        images,
        mtime: a.source_date_epoch.unwrap_or(0),
        verify_blobs: true,
        digest: a.sha256,
    };
    let _lock = read_lock_output(g, &a.layout, !a.no_wait)?;
    let layout_path = layout_dir(&a.layout);
    // Written into the layout it reads, the archive would replace a blob or index.json.
    let inputs = std::iter::once((layout_path.as_path(), "the layout it reads".to_string())).chain(
        a.images
            .iter()
            .map(|l| (l.as_path(), "--images".to_string())),
    );
    seedforge::outpath::refuse_inputs(&a.out, inputs)?;
    let layout = Layout::open(&layout_path)?;
    // Blobs unchanged since they last hashed right are not read again.
    let stamps = BlobStamps::load(&layout);
    let reporter = progress::CliReporter::new(g, 0);
    seedforge::Reporter::step_started(&reporter, "airgap");
    let report = write_archive(&layout, &a.out, &options, &reporter, Some(&stamps));
    reporter.finish();
    let report = report?;
    if let Err(e) = stamps.save() {
        tracing::warn!(
            "cannot save the blob stamps of {}: {e}",
            layout.root().display()
        );
    }
    if g.json {
        print_json(g, Kind::Airgap, &report);
    } else if !g.quiet {
        let digest = report
            .sha256
            .as_deref()
            .map(|d| format!(", sha256:{d}"))
            .unwrap_or_default();
        outln!(
            "{}: {} image(s), {} blob(s), {} ({} uncompressed){digest}",
            report.path.display(),
            report.images.len(),
            report.blobs,
            seedforge::util::human_bytes(report.file_bytes),
            seedforge::util::human_bytes(report.tar_bytes),
        );
    }
    Ok(ExitCode::Ok)
}
