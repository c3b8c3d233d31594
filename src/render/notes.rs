//! What `plan` and `render` tell the operator about how nodes will read their files: an
//! interface glob only netplan reads, and the confirmation prompt of Ubuntu's installer,
//! with the GRUB menu entry that removes it.

use super::context::{GLOB_FALLBACK, is_glob};

/// The question Ubuntu's installer asks at the console before it touches the disk, unless
/// `autoinstall` is on its kernel command line.
pub const AUTOINSTALL_PROMPT: &str = "Continue with autoinstall? (yes|no)";

/// The file `render` writes beside an autoinstall node's files: a GRUB menu entry that
/// boots the installer with `autoinstall` on its kernel command line.
pub const AUTOINSTALL_GRUB_FILE: &str = "autoinstall-grub.cfg";

/// The note on the network when `interface` is a glob and some nodes (`without_mac`, by
/// name) have no MAC: only netplan reads the glob.
pub fn interface_note(interface: &str, without_mac: &[&str]) -> Option<String> {
    if !is_glob(interface) || without_mac.is_empty() {
        return None;
    }
    Some(format!(
        "note: network.interface {interface:?} is a glob, which only netplan reads: a node whose cloud-init renders without netplan (the RHEL family, ENI, networkd alone) configures {GLOB_FALLBACK} instead ({}); set network.interface to the NIC's name, or nodes[].mac, where it is not {GLOB_FALLBACK} (docs/nodes.md)",
        without_mac.join(", ")
    ))
}

/// The note on an autoinstall node: the installer's prompt and what removes it.
pub fn autoinstall_note(node: &str) -> String {
    format!(
        "note: node {node} is installed by autoinstall: Ubuntu's installer stops at \"{AUTOINSTALL_PROMPT}\" on the console unless `autoinstall` is on its kernel command line (its GRUB entry, the PXE entry's or the hypervisor's kernel arguments, or a remastered ISO); `seedforge render` writes {node}/{AUTOINSTALL_GRUB_FILE}, a GRUB entry with it (docs/nodes.md)"
    )
}

/// The GRUB menu entry of an autoinstall node: the installer ISO's kernel and initrd with
/// `autoinstall` before the `---` that ends the installer's own arguments.
pub fn autoinstall_grub(node: &str) -> String {
    format!(
        "# {node}: Ubuntu's server installer (22.04 or later) with `autoinstall` on its kernel\n\
         # command line, written by seedforge. Without it the installer asks\n\
         # \"{AUTOINSTALL_PROMPT}\" on the console before it touches the disk and waits\n\
         # there. Use it as one of:\n\
         # - a menu entry of the installer ISO's boot/grub/grub.cfg (a remastered ISO);\n\
         # - by hand at the installer's GRUB menu: press e on the first entry, add autoinstall\n\
         #   before ---, press Ctrl-x;\n\
         # - PXE or a hypervisor's direct kernel boot: add autoinstall to the kernel arguments.\n\
         # The seed ISO (label CIDATA) stays attached as a second drive: the installer reads\n\
         # its config from there.\n\
         menuentry \"Install {node} (autoinstall)\" {{\n\
         \tset gfxpayload=keep\n\
         \tlinux\t/casper/vmlinuz autoinstall ---\n\
         \tinitrd\t/casper/initrd\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_is_noted_only_while_a_node_has_no_mac() {
        assert!(
            interface_note("e*", &["a"])
                .unwrap()
                .contains("eth0 instead (a)")
        );
        assert!(interface_note("e*", &[]).is_none());
        assert!(interface_note("ens18", &["a"]).is_none());
    }

    #[test]
    fn the_grub_entry_puts_autoinstall_before_the_installers_own_arguments() {
        let entry = autoinstall_grub("n1");
        assert!(entry.contains("\tlinux\t/casper/vmlinuz autoinstall ---\n"));
        assert!(entry.contains(AUTOINSTALL_PROMPT));
    }
}
