//! scratch
use blockorch::task::load_task_file;
#[test]
fn dump() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/task_files/bad");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    paths.sort();
    for p in paths {
        let shown = p.display().to_string();
        match load_task_file(&p) {
            Ok(_) => println!("{}: OK!!!", p.file_name().unwrap().to_string_lossy()),
            Err(e) => println!("{}\n    {}", p.file_name().unwrap().to_string_lossy(), e.to_string().replacen(&shown, "task.json", 1)),
        }
    }
}
