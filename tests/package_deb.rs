//! The Debian package: `cargo deb` builds it from the already built test binary (`--no-build
//! --profile dev`: the binary cargo built for this test run, stripped, so no release build is
//! needed; about a minute on a busy 2-core machine), the upgrade is the same package with
//! revision 2 (repacked with `dpkg-deb`),
//! `dpkg-deb -c` / `-f` / `-I` show exactly the expected files, control fields and conffiles,
//! and the maintainer scripts run in a scratch root (`dpkg --root … --force-script-chrootless`,
//! which exports `DPKG_ROOT`): install creates the user, the directories and the secrets key and
//! enables the unit; an upgrade keeps the store, the key and an edited configuration; remove
//! keeps them; purge removes them.
//!
//! Not exercised here (no systemd as PID 1 in CI containers): `daemon-reload`, starting the
//! service after `ml-connector check`, the restart on upgrade and the stop on removal; those
//! branches only run when `/run/systemd/system` exists and `DPKG_ROOT` is empty.
//!
//! Skipped with a printed reason when `cargo deb` or `dpkg-deb` is missing (`.ci/run` installs
//! cargo-deb; dpkg is part of Debian).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ml-connector");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("UTF-8 output")
}

fn tool_present(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cargo deb --no-build` of the test binary (stripped, as in a release) into `out_dir`.
fn build_deb(out_dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // target/<dir>/ml-connector -> the target directory cargo-deb must read.
    let target_dir = Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    let deb = out_dir.join(format!("ml-connector_{VERSION}-1_amd64.deb"));
    run(Command::new("cargo")
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "deb",
            "--no-build",
            "--profile",
            "dev",
            "--deb-revision",
            "1",
            "--output",
        ])
        .arg(&deb));
    deb
}

/// The same package as `deb` with Debian revision 2 (`dpkg-deb -R`, new `Version:`,
/// `dpkg-deb -b`): an upgrade without a second `cargo deb` run.
fn bump_revision(deb: &Path, out_dir: &Path) -> PathBuf {
    let tree = out_dir.join("tree");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control_path = tree.join("DEBIAN/control");
    let control = std::fs::read_to_string(&control_path).expect("control");
    let bumped = control.replace(
        &format!("\nVersion: {VERSION}-1\n"),
        &format!("\nVersion: {VERSION}-2\n"),
    );
    assert_ne!(bumped, control, "Version line in control");
    std::fs::write(&control_path, bumped).expect("control");
    let deb2 = out_dir.join(format!("ml-connector_{VERSION}-2_amd64.deb"));
    run(Command::new("dpkg-deb")
        .args(["-Zgzip", "-z1", "--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&deb2));
    deb2
}

fn dpkg(root: &Path) -> Command {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display())).args([
        "--force-script-chrootless",
        "--force-depends",
        "--log=/dev/null",
    ]);
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn deb_contents_control_and_maintainer_scripts() {
    if !tool_present("cargo", &["deb", "--version"]) || !tool_present("dpkg-deb", &["--version"]) {
        println!("SKIPPED: cargo deb or dpkg-deb is not installed (.ci/run installs cargo-deb)");
        return;
    }
    // Scratch space beside the build (the package holds a ~40 MB binary, unpacked and
    // installed twice): a small tmpfs `/tmp` on a CI machine cannot hold it.
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let deb1 = build_deb(work.path());

    // Contents: exactly these files (mode, path); directories are not listed.
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(&deb1));
    let files: Vec<(String, String)> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_string(), cols[5].to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("-rw-r--r--", "./etc/ml-connector/config.toml"),
        ("-rwxr-xr-x", "./usr/bin/ml-connector"),
        (
            "-rw-r--r--",
            "./usr/lib/systemd/system/ml-connector.service",
        ),
        (
            "-rw-r--r--",
            "./usr/lib/systemd/system/ml-connector.service.d/lan.conf",
        ),
        ("-rw-r--r--", "./usr/lib/sysusers.d/ml-connector.conf"),
        ("-rw-r--r--", "./usr/lib/tmpfiles.d/ml-connector.conf"),
        ("-rw-r--r--", "./usr/share/doc/ml-connector/README.md"),
        ("-rw-r--r--", "./usr/share/doc/ml-connector/copyright"),
        ("-rw-r--r--", "./usr/share/ml-connector/config.example.toml"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let mut sorted = files.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(sorted, expected, "dpkg-deb -c:\n{listing}");

    // Control fields and conffiles.
    let fields = stdout(Command::new("dpkg-deb").arg("-f").arg(&deb1).args([
        "Package",
        "Version",
        "Architecture",
        "Section",
        "Priority",
    ]));
    assert_eq!(
        fields,
        format!(
            "Package: ml-connector\nVersion: {VERSION}-1\nArchitecture: amd64\nSection: net\n\
             Priority: optional\n"
        )
    );
    let depends = stdout(Command::new("dpkg-deb").arg("-f").arg(&deb1).arg("Depends"));
    let depends: Vec<&str> = depends.trim().split(", ").collect();
    assert_eq!(depends.len(), 2, "{depends:?}");
    // The glibc version follows from the symbols the binary links (cargo-deb's $auto).
    assert!(depends[0].starts_with("libc6 (>= "), "{depends:?}");
    assert_eq!(depends[1], "systemd (>= 247)");
    let conffiles = stdout(
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb1)
            .arg("conffiles"),
    );
    assert_eq!(conffiles, "/etc/ml-connector/config.toml\n");
    let scripts = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb1));
    for script in ["postinst", "prerm", "postrm"] {
        assert!(
            scripts.contains(&format!(" {script} ")),
            "{script} in dpkg-deb -I:\n{scripts}"
        );
    }

    // Install into a scratch root.
    let root = work.path().join("root");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    run(dpkg(&root).arg("-i").arg(&deb1));

    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("ml-connector:"))
        .expect("user ml-connector")
        .split(':')
        .collect();
    assert_eq!(
        user[4..],
        [
            "ml-connector gateway",
            "/var/lib/ml-connector",
            "/usr/sbin/nologin"
        ]
    );
    let uid: u32 = user[2].parse().expect("uid");
    let state = root.join("var/lib/ml-connector");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(std::fs::metadata(&state).expect("state").uid(), uid);
    let key_path = root.join("etc/ml-connector/credentials/secrets-key");
    let key = std::fs::read(&key_path).expect("secrets key");
    assert_eq!(key.len(), 32);
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&root.join("etc/ml-connector/credentials")), 0o700);
    let wants = root.join("etc/systemd/system/multi-user.target.wants/ml-connector.service");
    assert_eq!(
        std::fs::read_link(&wants).expect("enabled"),
        Path::new("/usr/lib/systemd/system/ml-connector.service")
    );
    let example = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml"))
        .expect("example");
    let config_path = root.join("etc/ml-connector/config.toml");
    assert_eq!(std::fs::read(&config_path).expect("config"), example);

    // The operator edits the configuration; the service wrote its store.
    let edited = [example.as_slice(), b"\n# edited by the operator\n"].concat();
    std::fs::write(&config_path, &edited).expect("edit config");
    let store_path = state.join("ml-connector.redb");
    std::fs::write(&store_path, b"store bytes").expect("store");

    // Upgrade (revision 2): store, key and edited configuration stay.
    let deb2 = bump_revision(&deb1, work.path());
    run(dpkg(&root).arg("-i").arg(&deb2));
    assert_eq!(
        std::fs::read(&store_path).expect("store kept"),
        b"store bytes"
    );
    assert_eq!(std::fs::read(&key_path).expect("key kept"), key);
    assert_eq!(std::fs::read(&config_path).expect("config kept"), edited);
    let status = stdout(dpkg(&root).args(["-s", "ml-connector"]));
    assert!(
        status.contains("\nStatus: install ok installed\n"),
        "{status}"
    );
    assert!(
        status.contains(&format!("\nVersion: {VERSION}-2\n")),
        "{status}"
    );

    // Remove: the binary goes; store, key and configuration stay.
    run(dpkg(&root).args(["-r", "ml-connector"]));
    assert!(!root.join("usr/bin/ml-connector").exists());
    assert_eq!(
        std::fs::read(&store_path).expect("store kept"),
        b"store bytes"
    );
    assert_eq!(std::fs::read(&key_path).expect("key kept"), key);
    assert_eq!(std::fs::read(&config_path).expect("config kept"), edited);

    // Purge: everything of the package goes (the user stays).
    run(dpkg(&root).args(["-P", "ml-connector"]));
    for gone in [
        "var/lib/ml-connector",
        "etc/ml-connector",
        "etc/systemd/system/multi-user.target.wants/ml-connector.service",
    ] {
        assert!(!root.join(gone).exists(), "{gone} removed by purge");
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    assert_eq!(
        passwd
            .lines()
            .filter(|l| l.starts_with("ml-connector:"))
            .count(),
        1
    );
}
