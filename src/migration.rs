//! The copy-and-chown script of the whitepaper's backup-and-restore appendix (option 1): run on
//! an EC2 instance in the domain's VPC that mounts both EFS volumes over NFS (TCP 2049).

use crate::api::MigrationPlan;

/// Renders the script that copies every home directory from its old UID to its new UID.
pub fn render_script(plan: &MigrationPlan, region: &str) -> String {
    let mut out = String::new();
    let old_efs = plan.old_efs_id.as_deref().unwrap_or("OLD_EFS_ID");
    let new_efs = plan.new_efs_id.as_deref().unwrap_or("NEW_EFS_ID");
    out.push_str("#!/usr/bin/env bash\n");
    out.push_str(&format!(
        "# Migration of SageMaker Studio home directories after recreating domain {} as {}.\n",
        plan.old_domain_id, plan.new_domain_id
    ));
    out.push_str("# Run as root on an EC2 instance in the domain's VPC whose security group may reach both\n");
    out.push_str("# EFS volumes on TCP 2049 (NFS). The old volume is mounted read-only.\n");
    out.push_str("set -euo pipefail\n\n");
    out.push_str(&format!("OLD_EFS={old_efs}\nNEW_EFS={new_efs}\nREGION={region}\n\n"));
    out.push_str("mkdir -p /mnt/old-efs /mnt/new-efs\n");
    out.push_str("mount -t nfs4 -o nfsvers=4.1,ro \"$OLD_EFS.efs.$REGION.amazonaws.com:/\" /mnt/old-efs\n");
    out.push_str("mount -t nfs4 -o nfsvers=4.1 \"$NEW_EFS.efs.$REGION.amazonaws.com:/\" /mnt/new-efs\n\n");
    out.push_str("copy_home() { # kind name old_uid new_uid\n");
    out.push_str("  echo \"copying $1 $2: /$3 -> /$4\"\n");
    out.push_str("  mkdir -p \"/mnt/new-efs/$4\"\n");
    out.push_str("  cp -a \"/mnt/old-efs/$3/.\" \"/mnt/new-efs/$4/\"\n");
    out.push_str("  chown -R \"$4\":users \"/mnt/new-efs/$4\"\n}\n\n");
    for entry in &plan.entries {
        if let Some(location) = &entry.backup_location {
            out.push_str(&format!(
                "# {} {}: its EBS home directory is restored by the space-backup agent from {location} (restore: {})\n",
                entry.kind,
                entry.name,
                entry.restore.as_deref().unwrap_or("-")
            ));
            if let Some(space) = &entry.unmanaged_space {
                out.push_str(&format!(
                    "#   made outside the operator; it makes the space again in the new domain as it was ({} {} space of {}), once its owner is there\n",
                    space.sharing_type, space.app_type, space.owner
                ));
            }
        } else if let Some(restore) = &entry.restore {
            out.push_str(&format!(
                "# {} {}: EBS home directory {restore}\n",
                entry.kind, entry.name
            ));
        }
        match (&entry.old_uid, &entry.new_uid) {
            (Some(old), Some(new)) => out.push_str(&format!("copy_home {} {} {old} {new}\n", entry.kind, entry.name)),
            (Some(old), None) => out.push_str(&format!(
                "# {} {} (old UID {old}) does not exist in the new domain yet: re-run this command when it does\n",
                entry.kind, entry.name
            )),
            (None, _) => out.push_str(&format!("# {} {} had no home directory UID\n", entry.kind, entry.name)),
        }
    }
    out.push_str("\numount /mnt/old-efs /mnt/new-efs\necho done\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MigrationEntry;

    #[test]
    fn script_copies_and_chowns_each_member() {
        let plan = MigrationPlan {
            old_domain_id: "d-old".into(),
            new_domain_id: "d-new".into(),
            old_efs_id: Some("fs-old".into()),
            new_efs_id: Some("fs-new".into()),
            entries: vec![
                MigrationEntry {
                    kind: "UserProfile".into(),
                    name: "alice".into(),
                    old_uid: Some("200001".into()),
                    new_uid: Some("200005".into()),
                    ..Default::default()
                },
                MigrationEntry {
                    kind: "Space".into(),
                    name: "team".into(),
                    old_uid: Some("200002".into()),
                    new_uid: None,
                    backup_location: Some("s3://b/c/ns/studio/team/".into()),
                    restore: Some("Pending".into()),
                    ..Default::default()
                },
                MigrationEntry {
                    kind: "Space".into(),
                    name: "notes".into(),
                    backup_location: Some("s3://b/c/ns/studio/notes/".into()),
                    restore: Some("WaitingForSpace".into()),
                    unmanaged_space: Some(crate::api::UnmanagedSpace {
                        owner: "alice".into(),
                        sharing_type: "Private".into(),
                        app_type: "CodeEditor".into(),
                        ebs_gb: None,
                        display_name: None,
                    }),
                    ..Default::default()
                },
            ],
        };
        let script = render_script(&plan, "eu-west-1");
        assert!(script.contains("OLD_EFS=fs-old\nNEW_EFS=fs-new\nREGION=eu-west-1"));
        assert!(script.contains("copy_home UserProfile alice 200001 200005\n"));
        assert!(script.contains("chown -R \"$4\":users"));
        assert!(script.contains("# Space team (old UID 200002) does not exist in the new domain yet"));
        assert!(script.contains("nfsvers=4.1,ro"), "the old volume is mounted read-only");
        assert!(script.contains(
            "# Space team: its EBS home directory is restored by the space-backup agent from s3://b/c/ns/studio/team/ (restore: Pending)"
        ));
        assert!(script.contains(
            "# Space notes: its EBS home directory is restored by the space-backup agent from s3://b/c/ns/studio/notes/ (restore: WaitingForSpace)\n#   made outside the operator; it makes the space again in the new domain as it was (Private CodeEditor space of alice), once its owner is there\n"
        ));
    }
}
