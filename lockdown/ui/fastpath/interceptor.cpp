// The request interceptor's fast path, in C++: lockdown/ui/fastpath/__init__.py explains why.
//
// Qt calls interceptRequest() on the GUI thread for every request of every page. A URL that
// starts with one of the prefixes (origin + "/" of exam hosts the policy allows for every kind
// of request, whatever the path: Decider.any_kind_prefixes) is let through here; every other
// request is handed to the Python interceptor (`slow`), which decides, blocks, logs and sends
// the new prefixes back. This file holds no policy of its own: an empty prefix list sends
// every request to Python.
//
// Built by `python -m lockdown.ui.fastpath.build` against any Qt 6 headers (Qt 6 keeps binary
// compatibility between minor versions) and linked to the Qt libraries of the installed PySide6.

#include <QtCore/QByteArray>
#include <QtCore/QUrl>
#include <QtWebEngineCore/QWebEngineUrlRequestInfo>
#include <QtWebEngineCore/QWebEngineUrlRequestInterceptor>

#include <cstring>
#include <vector>

#if defined(_WIN32)
#define LOCKDOWN_EXPORT extern "C" __declspec(dllexport)
#else
#define LOCKDOWN_EXPORT extern "C" __attribute__((visibility("default")))
#endif

namespace {

// Bumped whenever a function below changes; the loader refuses a library of another version.
constexpr int kAbiVersion = 1;

class FastPathInterceptor final : public QWebEngineUrlRequestInterceptor {
public:
    // A child of the Python interceptor: Qt deletes it with that one, never before.
    explicit FastPathInterceptor(QWebEngineUrlRequestInterceptor *slow)
        : QWebEngineUrlRequestInterceptor(slow), slow_(slow) {}

    void interceptRequest(QWebEngineUrlRequestInfo &info) override {
        // The same text the Python interceptor reads: QUrl::toString(FullyEncoded), Latin-1.
        const QByteArray url = info.requestUrl().toEncoded();
        for (const QByteArray &prefix : prefixes_) {
            if (url.size() >= prefix.size()
                && std::memcmp(url.constData(), prefix.constData(), size_t(prefix.size())) == 0) {
                return;
            }
        }
        slow_->interceptRequest(info);
    }

    void setPrefixes(const char *const *prefixes, int count) {
        std::vector<QByteArray> fresh;
        fresh.reserve(size_t(count));
        for (int i = 0; i < count; ++i) {
            fresh.emplace_back(prefixes[i]);
        }
        prefixes_.swap(fresh);
    }

    int prefixCount() const { return int(prefixes_.size()); }

private:
    QWebEngineUrlRequestInterceptor *const slow_;
    std::vector<QByteArray> prefixes_;
};

FastPathInterceptor *fromHandle(void *handle) {
    return static_cast<FastPathInterceptor *>(static_cast<QWebEngineUrlRequestInterceptor *>(handle));
}

}  // namespace

LOCKDOWN_EXPORT int lockdown_fastpath_abi() { return kAbiVersion; }

// Returns the new interceptor as a QWebEngineUrlRequestInterceptor pointer (for
// shiboken6.wrapInstance); `slow` is the Python interceptor's C++ object.
LOCKDOWN_EXPORT void *lockdown_fastpath_new(void *slow) {
    return static_cast<QWebEngineUrlRequestInterceptor *>(
        new FastPathInterceptor(static_cast<QWebEngineUrlRequestInterceptor *>(slow)));
}

// Replaces the prefixes (NUL-terminated ASCII). Called on the GUI thread only, like
// interceptRequest(), so the two never run at the same time.
LOCKDOWN_EXPORT void lockdown_fastpath_set_prefixes(void *handle, const char *const *prefixes,
                                                    int count) {
    fromHandle(handle)->setPrefixes(prefixes, count);
}

LOCKDOWN_EXPORT int lockdown_fastpath_prefix_count(void *handle) {
    return fromHandle(handle)->prefixCount();
}
