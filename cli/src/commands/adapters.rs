//! `drag adapters`: which registries drag knows, as a table on stdout.

pub fn run() -> anyhow::Result<()> {
    let adapters = drag_core::adapter::all();
    crate::stdout::write(|out| {
        writeln!(out, "{:<10} {:<50} DESCRIPTION", "NAME", "HOSTS")?;
        for a in adapters {
            let hosts = if a.is_catch_all() {
                "(any other host)".to_string()
            } else {
                a.hosts().join(", ")
            };
            writeln!(out, "{:<10} {:<50} {}", a.name(), hosts, a.summary())?;
        }
        Ok(())
    })?;
    Ok(())
}
