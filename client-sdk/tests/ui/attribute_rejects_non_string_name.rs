#[ocelot_client::attr::transaction(name = 42)]
fn load() {}

fn main() {
    load();
}
