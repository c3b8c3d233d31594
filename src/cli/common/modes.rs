//! The end of a run: what the file systems refused of the modes seedforge set
//! (`seedforge::modes`), said once per file system and once for the private files.

use super::Global;

/// One warning per file system that refused to set a mode in this run, and one naming the
/// private files whose mode could not be kept: on stderr (unless `--quiet`), and recorded
/// for the JSON document. Said when the document is printed and at the end of the run.
pub(crate) fn warnings(global: &Global) {
    let refusals = seedforge::modes::take_refusals();
    let scrub = |t: String| global.secrets.scrub(&t).into_owned();
    let say = |message: String| {
        if !global.quiet {
            errln!("warning: {message}");
        }
        super::sink::record(&message);
    };
    for fs in &refusals.file_systems {
        say(scrub(format!(
            "{} keeps no unix modes (chmod: {}); {} file(s) there, such as {}, have the modes it shows instead of seedforge's",
            fs.file_system,
            fs.error,
            fs.files,
            fs.first.display()
        )));
    }
    if !refusals.secrets.is_empty() {
        let names: Vec<String> = refusals
            .secrets
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        say(scrub(format!(
            "these private files could not be made readable by their owner only (mode 0600): {}; keep the output on a file system with unix modes (ext4: under WSL a Linux folder such as ~/out, with export_dir for the copies on /mnt/c or a stick), or under WSL set [automount] options = \"metadata\" in /etc/wsl.conf",
            names.join(", ")
        )));
    }
}
