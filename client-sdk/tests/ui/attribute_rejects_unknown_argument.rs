#[ocelot_client::attr::transaction(kind = "SQL")]
fn load() {}

fn main() {
    load();
}
