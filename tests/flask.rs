//! A real WSGI app (Flask), run two legacy ways under a prefix: through the
//! CGI gateway with `wsgiref.handlers.CGIHandler`, and served by Werkzeug
//! behind the reverse proxy with Werkzeug's `ProxyFix`.

mod common;

use std::process::Command;

use common::{curl, free_port, headers, python_has, Python, Stack, FLASK_APP};

fn flask_available() -> bool {
    python_has("flask")
}

#[test]
fn flask_through_the_cgi_gateway_builds_urls_with_the_prefix() {
    if !flask_available() {
        return;
    }
    let stack = Stack::new(
        "[composite.main]\nuse = \"urlmap\"\n\"/apps/flask\" = \"flask\"\n[app.flask]\nuse = \"cgi\"\nscript = \"cgi-bin/app.cgi\"\n",
    );
    let bin = stack.path().join("cgi-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("flaskapp.py"), FLASK_APP).unwrap();
    let script = bin.join("app.cgi");
    std::fs::write(
        &script,
        format!(
            "#!{}\nimport sys, os\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\nfrom wsgiref.handlers import CGIHandler\nfrom flaskapp import app\nCGIHandler().run(app)\n",
            python3()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = stack.serve();
    let body = curl(&[&server.url("/apps/flask/")]);
    assert_eq!(
        body,
        format!(
            "index at /apps/flask/ full http://{}/apps/flask/",
            server.addr()
        )
    );
    let head = headers(&[&server.url("/apps/flask/go")]);
    assert!(
        head.contains("/apps/flask/\n") && head.to_ascii_lowercase().contains("location:"),
        "{head}"
    );
}

fn python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn flask_behind_the_proxy_with_werkzeug_proxyfix() {
    if !flask_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flaskapp.py"), FLASK_APP).unwrap();
    let port = free_port();
    let _served = Python::start_in(
        "import sys\nfrom werkzeug.serving import make_server\nfrom werkzeug.middleware.proxy_fix import ProxyFix\nfrom flaskapp import app\napp.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)\nserver = make_server('127.0.0.1', int(sys.argv[1]), app, threaded=True)\nprint('ready', flush=True)\nserver.serve_forever()",
        &[&port.to_string()],
        dir.path(),
    );
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/legacy\" = \"flask\"\n[app.flask]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\n"
    ));
    let server = stack.serve();
    let body = curl(&[&server.url("/legacy/")]);
    assert_eq!(
        body,
        format!("index at /legacy/ full http://{}/legacy/", server.addr())
    );
    let head = headers(&[&server.url("/legacy/go")]).to_ascii_lowercase();
    assert!(head.contains("location: /legacy/\n"), "{head}");
    assert_eq!(
        curl(&["--interface", "127.0.0.5", &server.url("/legacy/who")]),
        "127.0.0.5"
    );
    assert_eq!(
        curl(&["-N", &server.url("/legacy/events")]),
        "data: 1\n\ndata: 2\n\ndata: 3\n\n"
    );
}
