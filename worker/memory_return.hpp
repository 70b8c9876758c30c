#pragma once
// Giving memory back to the kernel at once, for what a slow reader held.
//
// mimalloc 2.0 keeps freed spans committed for a delay and decommits them only when it
// next works in their segment, which a worker that has gone quiet never makes it do
// (not even mi_collect(true) does): the RSS a burst of slow readers left would stay.
// While a decommit_scope lives, memory freed goes back at once. Used only for memory a
// slow reader held, so ordinary traffic keeps mimalloc's reuse of warm pages.
namespace pfd::worker {

class decommit_scope {
public:
    // active: false makes it a no-op. collect: also free the pages that small objects
    // freed in the scope leave empty.
    explicit decommit_scope(bool active, bool collect = false) noexcept;
    ~decommit_scope();
    decommit_scope(const decommit_scope&) = delete;
    decommit_scope& operator=(const decommit_scope&) = delete;

private:
    bool collect_;
    long delay_ = -1;
};

}  // namespace pfd::worker
