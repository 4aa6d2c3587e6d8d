//! Prints every argument and every environment variable it can see, one per
//! line, so tests can check that exactly what was granted arrives. Run by
//! WAGI (`GATEWAY_INTERFACE` set) it first prints a CGI header, so that the
//! lines are the response body and tests see the CGI variables it got.
fn main() {
    if std::env::var_os("GATEWAY_INTERFACE").is_some() {
        println!("content-type: text/plain\n");
    }
    for arg in std::env::args() {
        println!("arg: {arg}");
    }
    for (key, value) in std::env::vars() {
        println!("env: {key}={value}");
    }
}
