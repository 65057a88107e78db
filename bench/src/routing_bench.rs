//! In-process: towerkit-routing's `Router` against axum's `Router`
//! (matchit) on 100 rules of GitHub's REST API, in the same run, and the
//! cost of `url_for`.
//!
//! Each round builds the same shuffled list of matching requests (every
//! rule, placeholders filled with random values) for both routers, then
//! times each router dispatching them to a service that answers at once,
//! in batches of 500, the routers alternating batch by batch. Time is the
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that other work on a
//! busy machine is not counted against either; each round gives a ratio,
//! the median of the rounds is the result.
//!
//!     cargo run --release -p towerkit-bench --bin routing-bench [ROUNDS]
//!
//! Prints one `round` line per round and a summary.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Method, Request, Response};
use tower::Service;
use towerkit_core::Body;
use towerkit_routing::{Map, Params, Router, Value};

/// GitHub's REST API, 100 routes (`:name` placeholders, as its docs write
/// them).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/authorizations"),
    ("GET", "/authorizations/:id"),
    ("POST", "/authorizations"),
    ("DELETE", "/authorizations/:id"),
    ("GET", "/applications/:client_id/tokens/:access_token"),
    ("DELETE", "/applications/:client_id/tokens"),
    ("GET", "/events"),
    ("GET", "/repos/:owner/:repo/events"),
    ("GET", "/networks/:owner/:repo/events"),
    ("GET", "/orgs/:org/events"),
    ("GET", "/users/:user/received_events"),
    ("GET", "/users/:user/received_events/public"),
    ("GET", "/users/:user/events"),
    ("GET", "/users/:user/events/public"),
    ("GET", "/users/:user/events/orgs/:org"),
    ("GET", "/feeds"),
    ("GET", "/notifications"),
    ("GET", "/repos/:owner/:repo/notifications"),
    ("PUT", "/notifications"),
    ("PUT", "/repos/:owner/:repo/notifications"),
    ("GET", "/notifications/threads/:id"),
    ("GET", "/notifications/threads/:id/subscription"),
    ("PUT", "/notifications/threads/:id/subscription"),
    ("DELETE", "/notifications/threads/:id/subscription"),
    ("GET", "/repos/:owner/:repo/stargazers"),
    ("GET", "/users/:user/starred"),
    ("GET", "/user/starred"),
    ("GET", "/user/starred/:owner/:repo"),
    ("PUT", "/user/starred/:owner/:repo"),
    ("DELETE", "/user/starred/:owner/:repo"),
    ("GET", "/repos/:owner/:repo/subscribers"),
    ("GET", "/users/:user/subscriptions"),
    ("GET", "/user/subscriptions"),
    ("GET", "/repos/:owner/:repo/subscription"),
    ("PUT", "/repos/:owner/:repo/subscription"),
    ("DELETE", "/repos/:owner/:repo/subscription"),
    ("GET", "/users/:user/gists"),
    ("GET", "/gists"),
    ("GET", "/gists/:id"),
    ("POST", "/gists"),
    ("PUT", "/gists/:id/star"),
    ("DELETE", "/gists/:id/star"),
    ("GET", "/gists/:id/star"),
    ("POST", "/gists/:id/forks"),
    ("DELETE", "/gists/:id"),
    ("GET", "/repos/:owner/:repo/git/blobs/:sha"),
    ("POST", "/repos/:owner/:repo/git/blobs"),
    ("GET", "/repos/:owner/:repo/git/commits/:sha"),
    ("POST", "/repos/:owner/:repo/git/commits"),
    ("GET", "/repos/:owner/:repo/git/refs"),
    ("POST", "/repos/:owner/:repo/git/refs"),
    ("GET", "/repos/:owner/:repo/git/tags/:sha"),
    ("POST", "/repos/:owner/:repo/git/tags"),
    ("GET", "/repos/:owner/:repo/git/trees/:sha"),
    ("POST", "/repos/:owner/:repo/git/trees"),
    ("GET", "/issues"),
    ("GET", "/user/issues"),
    ("GET", "/orgs/:org/issues"),
    ("GET", "/repos/:owner/:repo/issues"),
    ("GET", "/repos/:owner/:repo/issues/:number"),
    ("POST", "/repos/:owner/:repo/issues"),
    ("GET", "/repos/:owner/:repo/assignees"),
    ("GET", "/repos/:owner/:repo/assignees/:assignee"),
    ("GET", "/repos/:owner/:repo/issues/:number/comments"),
    ("POST", "/repos/:owner/:repo/issues/:number/comments"),
    ("GET", "/repos/:owner/:repo/issues/:number/events"),
    ("GET", "/repos/:owner/:repo/labels"),
    ("GET", "/repos/:owner/:repo/labels/:name"),
    ("POST", "/repos/:owner/:repo/labels"),
    ("DELETE", "/repos/:owner/:repo/labels/:name"),
    ("GET", "/repos/:owner/:repo/issues/:number/labels"),
    ("POST", "/repos/:owner/:repo/issues/:number/labels"),
    ("DELETE", "/repos/:owner/:repo/issues/:number/labels/:name"),
    ("PUT", "/repos/:owner/:repo/issues/:number/labels"),
    ("DELETE", "/repos/:owner/:repo/issues/:number/labels"),
    ("GET", "/repos/:owner/:repo/milestones/:number/labels"),
    ("GET", "/repos/:owner/:repo/milestones"),
    ("GET", "/repos/:owner/:repo/milestones/:number"),
    ("POST", "/repos/:owner/:repo/milestones"),
    ("DELETE", "/repos/:owner/:repo/milestones/:number"),
    ("GET", "/emojis"),
    ("GET", "/gitignore/templates"),
    ("GET", "/gitignore/templates/:name"),
    ("POST", "/markdown"),
    ("POST", "/markdown/raw"),
    ("GET", "/meta"),
    ("GET", "/rate_limit"),
    ("GET", "/users/:user/orgs"),
    ("GET", "/user/orgs"),
    ("GET", "/orgs/:org"),
    ("GET", "/orgs/:org/members"),
    ("GET", "/orgs/:org/members/:user"),
    ("DELETE", "/orgs/:org/members/:user"),
    ("GET", "/orgs/:org/public_members"),
    ("GET", "/orgs/:org/public_members/:user"),
    ("PUT", "/orgs/:org/public_members/:user"),
    ("DELETE", "/orgs/:org/public_members/:user"),
    ("GET", "/orgs/:org/teams"),
    ("GET", "/teams/:id"),
    ("POST", "/orgs/:org/teams"),
];

/// The answer of every endpoint, for both routers: nothing, at once, in
/// the router's own body type (so neither boxes it).
struct Ok200<RB>(fn() -> RB);

impl<RB> Clone for Ok200<RB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<RB> Copy for Ok200<RB> {}

impl<B, RB> Service<Request<B>> for Ok200<RB> {
    type Response = Response<RB>;
    type Error = Infallible;
    type Future = Ready<Result<Response<RB>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        ready(Ok(Response::new((self.0)())))
    }
}

type TowerkitOk = Ok200<Body>;
const TOWERKIT_OK: TowerkitOk = Ok200(Body::empty);
const AXUM_OK: Ok200<axum::body::Body> = Ok200(axum::body::Body::empty);

fn endpoint(i: usize) -> String {
    format!("e{i}")
}

fn towerkit_router() -> Router<TowerkitOk> {
    let mut map = Map::builder();
    for (i, (method, path)) in ROUTES.iter().enumerate() {
        let rule: String = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(name) => format!("<{name}>"),
                None => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        map = map
            .route(&format!("{method} {rule}"), &endpoint(i))
            .expect("a valid rule");
    }
    let map = map.build().expect("the rules compile");
    let mut router = Router::builder(map);
    for i in 0..ROUTES.len() {
        router = router.endpoint(endpoint(i), TOWERKIT_OK);
    }
    router.build().expect("a service per endpoint")
}

fn axum_router() -> axum::Router {
    use axum::routing::{on_service, MethodFilter};
    let mut by_path: Vec<(String, Vec<Method>)> = Vec::new();
    for (method, path) in ROUTES {
        let path: String = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let method: Method = method.parse().expect("a method");
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, methods)) => methods.push(method),
            None => by_path.push((path, vec![method])),
        }
    }
    let mut router = axum::Router::new();
    for (path, methods) in by_path {
        let mut route: Option<axum::routing::MethodRouter> = None;
        for method in methods {
            let filter = MethodFilter::try_from(method).expect("a method axum routes");
            route = Some(match route {
                None => on_service(filter, AXUM_OK),
                Some(r) => r.on_service(filter, AXUM_OK),
            });
        }
        if let Some(route) = route {
            router = router.route(&path, route);
        }
    }
    router
}

/// A small, seeded generator: the same paths on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> String {
        let len = 3 + (self.next() % 10) as usize;
        (0..len)
            .map(|_| char::from(b'a' + (self.next() % 26) as u8))
            .collect()
    }
}

/// `count` requests, every rule in turn, shuffled, values random.
fn workload(count: usize, rng: &mut Rng) -> Vec<(Method, String)> {
    let mut work: Vec<(Method, String)> = (0..count)
        .map(|i| {
            let (method, path) = ROUTES[i % ROUTES.len()];
            let path: String = path
                .split('/')
                .map(|s| {
                    if s.starts_with(':') {
                        if s.contains("id") || s.contains("number") {
                            (rng.next() % 100_000).to_string()
                        } else {
                            rng.word()
                        }
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            (method.parse().expect("a method"), path)
        })
        .collect();
    for i in (1..work.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        work.swap(i, j);
    }
    work
}

/// Polls a future that must be ready at once (the endpoints answer
/// without waiting).
fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmark's services answer at once"),
    }
}

fn requests<B>(work: &[(Method, String)], body: fn() -> B) -> Vec<Request<B>> {
    work.iter()
        .map(|(method, path)| {
            Request::builder()
                .method(method.clone())
                .uri(path.as_str())
                .header("host", "api.example")
                .body(body())
                .expect("a request")
        })
        .collect()
}

/// The CPU time this thread has used.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Dispatches every request (built beforehand, untimed); returns the CPU
/// time it took.
fn run<S, B, RB>(service: &mut S, requests: Vec<Request<B>>) -> Duration
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let count = requests.len();
    let start = cpu_now();
    let mut ok = 0usize;
    for req in requests {
        let response = now(service.call(req)).expect("an answer");
        ok += usize::from(response.status() == 200);
    }
    let elapsed = cpu_now() - start;
    assert_eq!(ok, count, "every request matches");
    elapsed
}

/// One round: `work` in batches of 500, the contenders alternating
/// batch by batch (so that a busy machine slows both alike); matches per
/// second of each.
fn round(
    towerkit: &mut Router<TowerkitOk>,
    axum: &mut axum::Router,
    work: &[(Method, String)],
) -> (f64, f64) {
    let (mut t, mut a) = (Duration::ZERO, Duration::ZERO);
    for (i, batch) in work.chunks(500).enumerate() {
        let (tk_requests, ax_requests) = (
            requests(batch, Body::empty),
            requests(batch, axum::body::Body::empty),
        );
        if i % 2 == 0 {
            t += run(towerkit, tk_requests);
            a += run(axum, ax_requests);
        } else {
            a += run(axum, ax_requests);
            t += run(towerkit, tk_requests);
        }
    }
    let n = work.len() as f64;
    (n / t.as_secs_f64(), n / a.as_secs_f64())
}

/// Nanoseconds per `url_for` call, over every endpoint with random values.
fn url_for_cost(router: &Router<TowerkitOk>, rng: &mut Rng) -> f64 {
    let req = Request::get("/")
        .header("host", "api.example")
        .body(())
        .expect("a request");
    let urls = router.map().urls(&req);
    let calls: Vec<(String, Params)> = (0..20_000)
        .map(|i| {
            let (_, path) = ROUTES[i % ROUTES.len()];
            let params: Params = path
                .split('/')
                .filter_map(|s| s.strip_prefix(':'))
                .map(|name| (name.to_owned(), Value::from(rng.word())))
                .collect();
            (endpoint(i % ROUTES.len()), params)
        })
        .collect();
    let start = cpu_now();
    let mut bytes = 0;
    for (endpoint, params) in &calls {
        bytes += urls.url_for(endpoint, params).expect("a URL").len();
    }
    let elapsed = cpu_now() - start;
    assert!(bytes > 0);
    elapsed.as_nanos() as f64 / calls.len() as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let mut towerkit = towerkit_router();
    let mut axum = axum_router();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Warm up both.
    round(&mut towerkit, &mut axum, &workload(20_000, &mut rng));
    println!(
        "routing: {} rules (GitHub REST API), 100,000 shuffled matching requests a round in batches of 500, the routers alternating, CPU time, {rounds} rounds, in-process, one thread",
        ROUTES.len()
    );
    let (mut ratios, mut tk, mut ax, mut costs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round_no in 1..=rounds {
        let work = workload(100_000, &mut rng);
        let (t, a) = round(&mut towerkit, &mut axum, &work);
        let round = round_no;
        let cost = url_for_cost(&towerkit, &mut rng);
        println!(
            "round {round}: towerkit {t:.0}/s, axum {a:.0}/s, ratio {:.3}, url_for {cost:.0} ns",
            t / a
        );
        ratios.push(t / a);
        tk.push(t);
        ax.push(a);
        costs.push(cost);
    }
    println!(
        "towerkit-routing Router {:.0} matches/s, axum Router {:.0} matches/s: x{:.3} (target >= 1.0); url_for {:.0} ns per call",
        median(&mut tk),
        median(&mut ax),
        median(&mut ratios),
        median(&mut costs)
    );
}
