// ceiling: the fastest thing that can answer wrk on this machine with io_uring.
// Not HTTP: it counts "\r\n\r\n" terminators in what arrives and sends that many
// copies of one prebuilt response in one send. N forked workers share one
// listening socket; each has its own ring with multishot accept, multishot recv
// into a provided-buffer ring, and sends taken from one shared read-only buffer
// of concatenated responses (so no per-connection output buffer exists).
// Bytes containing "lose" (Connection: close / Close) — or every request with
// --close — make the connection close once its responses are sent; if that is
// known before its first response, the responses say "Connection: close" (wrk
// only closes cleanly on a response that says so).
//
// build: g++ -O2 -std=c++20 ceiling.cpp -o ceiling -luring
// usage: ceiling [--port 18089] [--workers N] [--close] [--reuseport] [--batch]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
constexpr unsigned max_fds = 1 << 17, n_bufs = 4096, buf_size = 4096, copies = 1024;
enum op : std::uint64_t { op_accept, op_recv, op_send, op_ignore, op_signal };  // user_data = fd << 3 | op
struct conn { std::uint64_t pending, sent; std::uint8_t match; bool sending, recv_done, close_after, close_resp, canceled; };
const char response[] = "HTTP/1.1 200 OK\r\nServer: ceiling\r\nDate: Wed, 25 Nov 2026 00:00:00 GMT\r\n"
                        "Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello word";
const char close_response[] = "HTTP/1.1 200 OK\r\nServer: ceiling\r\nDate: Wed, 25 Nov 2026 00:00:00 GMT\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello word";
constexpr std::size_t resp_lens[2] = {sizeof response - 1, sizeof close_response - 1};
std::string responses[2];  // `copies` responses back to back, shared by every send
std::vector<conn> conns;
io_uring ring;
io_uring_buf_ring* bufs;
char* buf_mem;
bool force_close;
bool batch;  // --batch: preforkd's adaptive batched wait (worker/worker.cpp next_wait), for comparison

void submit(op o, int fd, void (*prep)(io_uring_sqe*, int)) {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) { io_uring_submit(&ring); s = io_uring_get_sqe(&ring); }
    prep(s, fd);
    io_uring_sqe_set_data64(s, (std::uint64_t(fd) << 3) | o);
}
void arm_accept(int lfd) { submit(op_accept, lfd, [](io_uring_sqe* s, int fd) { io_uring_prep_multishot_accept(s, fd, nullptr, nullptr, 0); }); }
void arm_recv(int fd) {
    submit(op_recv, fd, [](io_uring_sqe* s, int fd) {
        io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = 0;
    });
}
void close_fd(int fd) { submit(op_ignore, fd, [](io_uring_sqe* s, int fd) { io_uring_prep_close(s, fd); }); }
void send_some(int fd) {  // at most one send in flight per connection, so bytes never interleave
    conn& c = conns[fd];
    const std::string& r = responses[c.close_resp];
    std::size_t off = c.sent % resp_lens[c.close_resp], n = std::min<std::uint64_t>(c.pending, r.size() - off);
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) { io_uring_submit(&ring); s = io_uring_get_sqe(&ring); }
    io_uring_prep_send(s, fd, r.data() + off, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, (std::uint64_t(fd) << 3) | op_send);
    c.sending = true;
}
void maybe_finish(int fd) {
    conn& c = conns[fd];
    if (c.sending) return;
    if (c.recv_done) { close_fd(fd); return; }
    if (c.close_after && c.pending == 0 && !c.canceled) {
        // After the last response: cancel the recv; its final CQE closes the socket.
        // (Not IORING_OP_SHUTDOWN: it always runs in io-wq, resolving the fd late,
        // by which time the number may belong to the next connection.)
        c.canceled = true;
        submit(op_ignore, fd, [](io_uring_sqe* s, int fd) {
            io_uring_prep_cancel64(s, (std::uint64_t(fd) << 3) | op_recv, 0);
        });
    }
}
std::uint64_t count_terminators(conn& c, const char* p, std::size_t n) {
    std::uint64_t count = 0;
    for (const char* end = p + n; p < end; ++p) {
        if (c.match == 0) {  // skip straight to the next '\r'
            p = static_cast<const char*>(std::memchr(p, '\r', end - p));
            if (p == nullptr) break;
            c.match = 1;
        } else if (*p == "\r\n\r\n"[c.match]) {
            if (++c.match == 4) { ++count; c.match = 0; }
        } else {
            c.match = *p == '\r' ? 1 : 0;
        }
    }
    return count;
}

[[noreturn]] void serve(int lfd, const sigset_t& stop) {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = 16384;
    if (int rc = io_uring_queue_init_params(4096, &ring, &p); rc < 0) { errno = -rc; perror("io_uring_queue_init"); exit(1); }
    void* mem = mmap(nullptr, n_bufs * sizeof(io_uring_buf) + std::size_t(n_bufs) * buf_size,
                     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = static_cast<io_uring_buf_ring*>(mem);
    buf_mem = static_cast<char*>(mem) + n_bufs * sizeof(io_uring_buf);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = n_bufs;
    reg.bgid = 0;
    if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) { errno = -rc; perror("register_buf_ring"); exit(1); }
    io_uring_buf_ring_init(bufs);
    for (unsigned i = 0; i < n_bufs; ++i)
        io_uring_buf_ring_add(bufs, buf_mem + std::size_t(i) * buf_size, buf_size, i, io_uring_buf_ring_mask(n_bufs), i);
    io_uring_buf_ring_advance(bufs, n_bufs);
    arm_accept(lfd);
    // TERM/INT stay blocked and arrive through a signalfd polled by the ring, so the
    // worker exits cleanly even while blocked in io_uring_enter.
    submit(op_signal, signalfd(-1, &stop, SFD_CLOEXEC), [](io_uring_sqe* s, int fd) { io_uring_prep_poll_add(s, fd, POLLIN); });
    unsigned ask = 1;
    for (;;) {
        if (batch && ask > 1) {
            __kernel_timespec patience{.tv_sec = 0, .tv_nsec = 100'000};
            io_uring_cqe* first;
            io_uring_submit_and_wait_timeout(&ring, &first, ask, &patience, nullptr);
        } else {
            io_uring_submit_and_wait(&ring, 1);
        }
        io_uring_cqe* cqe;
        unsigned head, seen = 0, recycled = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            const std::uint64_t d = io_uring_cqe_get_data64(cqe);
            const int fd = int(d >> 3), res = cqe->res;
            const bool more = cqe->flags & IORING_CQE_F_MORE;
            switch (op(d & 7)) {
            case op_accept:
                if (res >= 0) { conns[res] = conn{}; arm_recv(res); }
                if (!more) arm_accept(lfd);
                break;
            case op_recv: {
                conn& c = conns[fd];
                if (res > 0) {
                    const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    const char* data = buf_mem + std::size_t(id) * buf_size;
                    const std::uint64_t n = count_terminators(c, data, res);
                    if (force_close || memmem(data, res, "lose", 4) != nullptr) {
                        if (c.sent == 0 && c.pending == 0) c.close_resp = true;  // before the first response only
                        c.close_after = true;
                    }
                    io_uring_buf_ring_add(bufs, const_cast<char*>(data), buf_size, id, io_uring_buf_ring_mask(n_bufs), recycled++);
                    c.pending += n * resp_lens[c.close_resp];
                    if (n > 0 && !c.sending) send_some(fd);
                }
                if (!more) {
                    if (res == -ENOBUFS) { arm_recv(fd); break; }  // ring ran dry: re-arm
                    c.recv_done = true;
                    maybe_finish(fd);
                }
                break;
            }
            case op_send: {
                conn& c = conns[fd];
                c.sending = false;
                if (res < 0) { c.pending = 0; c.close_after = true; }
                else { c.pending -= res; c.sent += res; }
                if (c.pending > 0) send_some(fd);
                else maybe_finish(fd);
                break;
            }
            case op_ignore: break;
            case op_signal: exit(0);  // TERM/INT: a normal exit, so valgrind still writes its profile
            }
        }
        io_uring_cq_advance(&ring, seen);
        if (batch) {  // ask for more while batches overflow the ask, less once a wait times out
            ask = seen < ask ? std::max(1U, seen / 2) : seen >= 2 * ask + 2 ? std::min(ask * 2, 16U) : ask;
        }
        if (recycled) io_uring_buf_ring_advance(bufs, recycled);
    }
}
}  // namespace

int main(int argc, char** argv) {
    int port = 18089, workers = int(sysconf(_SC_NPROCESSORS_ONLN));
    bool reuseport = false;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--close")) force_close = true;
        else if (!strcmp(argv[i], "--reuseport")) reuseport = true;
        else if (!strcmp(argv[i], "--batch")) batch = true;
        else { fprintf(stderr, "usage: ceiling [--port P] [--workers N] [--close] [--reuseport] [--batch]\n"); return 2; }
    }
    for (unsigned i = 0; i < copies; ++i) {
        responses[0].append(response, resp_lens[0]);
        responses[1].append(close_response, resp_lens[1]);
    }
    conns.resize(max_fds);
    // One listening socket shared by every worker, or (--reuseport) one SO_REUSEPORT
    // socket per worker, so the kernel spreads connections evenly.
    std::vector<int> lfds;
    for (int i = 0; i < (reuseport ? workers : 1); ++i) {
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport) setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(lfd, 4096) < 0) { perror("bind/listen"); return 1; }
        lfds.push_back(lfd);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    std::vector<pid_t> kids;
    for (int i = 0; i < workers; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            serve(lfds[reuseport ? i : 0], set);
        }
        kids.push_back(pid);
    }
    int sig;
    sigwait(&set, &sig);  // TERM/INT: stop the workers (TERM, so valgrind can still write its
    for (pid_t k : kids) kill(k, SIGTERM);  // profile), reap them, exit
    for (pid_t k : kids) waitpid(k, nullptr, 0);
    return 0;
}
