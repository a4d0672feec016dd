fn main() {
    todo!("rotor-emulator binary")
}
