#include "server/steering_program.hpp"

#include <algorithm>

namespace pfd::server {
namespace {

constexpr auto random_word = static_cast<__u32>(SKF_AD_OFF + SKF_AD_RANDOM);
constexpr auto cpu_word = static_cast<__u32>(SKF_AD_OFF + SKF_AD_CPU);

// Appends instructions whose jumps are relative, so each piece is built where it lands.
class program {
public:
    void op(__u16 code, __u32 k) { code_.push_back(BPF_STMT(code, k)); }
    void jump(__u16 code, __u32 k, __u8 if_true, __u8 if_false) {
        code_.push_back(BPF_JUMP(code, k, if_true, if_false));
    }
    // A forward jump to a place not yet built: patched by land().
    std::size_t jump_ahead() {
        code_.push_back(BPF_STMT(BPF_JMP | BPF_JA, 0));
        return code_.size() - 1;
    }
    void land(std::span<const std::size_t> jumps) {
        for (std::size_t at : jumps) {
            code_[at].k = static_cast<__u32>(code_.size() - at - 1);
        }
    }
    // A = random % n
    void random_below(unsigned n) {
        op(BPF_LD | BPF_W | BPF_ABS, random_word);
        op(BPF_ALU | BPF_MOD | BPF_K, n);
    }
    std::vector<sock_filter> done() && { return std::move(code_); }

private:
    std::vector<sock_filter> code_;
};

// Leaves the CPU's socket in A (see the header), every way out jumping to one place.
void choose_by_cpu(program& p, unsigned sockets, unsigned cpus) {
    const unsigned rounds = (sockets + cpus - 1) / cpus;
    p.random_below(rounds);
    p.op(BPF_ALU | BPF_MUL | BPF_K, cpus);
    p.op(BPF_MISC | BPF_TAX, 0);
    p.op(BPF_LD | BPF_W | BPF_ABS, cpu_word);
    p.op(BPF_ALU | BPF_ADD | BPF_X, 0);
    p.jump(BPF_JMP | BPF_JGE | BPF_K, sockets, 1, 0);
    const std::size_t chosen = p.jump_ahead();
    p.op(BPF_LD | BPF_W | BPF_ABS, cpu_word);
    p.jump(BPF_JMP | BPF_JGE | BPF_K, sockets, 1, 0);
    const std::size_t cpu_is_it = p.jump_ahead();
    p.random_below(sockets);
    const std::size_t ways[] = {chosen, cpu_is_it};
    p.land(ways);
}

// Returns one of `open` at random.
void return_one_of(program& p, const std::vector<unsigned>& open) {
    p.random_below(static_cast<unsigned>(open.size()));
    for (std::size_t i = 0; i + 1 < open.size(); ++i) {
        p.jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<__u32>(i), 0, 1);
        p.op(BPF_RET | BPF_K, open[i]);
    }
    p.op(BPF_RET | BPF_K, open.back());
}

}  // namespace

std::vector<sock_filter> steering_program(const steering& s) {
    program p;
    std::vector<unsigned> open;
    for (unsigned i = 0; i < s.sockets; ++i) {
        if (!std::binary_search(s.skipped.begin(), s.skipped.end(), i)) {
            open.push_back(i);
        }
    }
    const bool skip = !open.empty() && open.size() < s.sockets;
    if (s.sockets <= 1) {
        p.op(BPF_RET | BPF_K, 0);
    } else if (!s.by_cpu) {
        if (skip) {
            return_one_of(p, open);
        } else {
            p.random_below(s.sockets);
            p.op(BPF_RET | BPF_A, 0);
        }
    } else {
        choose_by_cpu(p, s.sockets, std::max(1U, s.cpus));
        if (skip) {
            // A skipped socket's connections go to one of the open ones instead.
            std::vector<std::size_t> to_others;
            for (unsigned k : s.skipped) {
                if (k < s.sockets) {
                    p.jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1);
                    to_others.push_back(p.jump_ahead());
                }
            }
            p.op(BPF_RET | BPF_A, 0);
            p.land(to_others);
            return_one_of(p, open);
        } else {
            p.op(BPF_RET | BPF_A, 0);
        }
    }
    return std::move(p).done();
}

}  // namespace pfd::server
