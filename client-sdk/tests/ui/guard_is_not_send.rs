fn main() {
    let guard = ocelot_client::transaction!("URL", "/x");
    std::thread::spawn(move || drop(guard));
}
