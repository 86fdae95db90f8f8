#include "server/acme/curl_http_transport.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/version.h"

namespace certfleet::acme {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

// Collects the headers of the last response only (a redirect or 100-continue
// starts a new status line, which resets them).
size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* headers = static_cast<HttpHeaders*>(user);
  absl::string_view line(data, size * nmemb);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    *headers = HttpHeaders();
  } else {
    size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      headers->Add(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                   std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
  }
  return size * nmemb;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

CurlHttpTransport::CurlHttpTransport(CurlTransportOptions options)
    : options_(std::move(options)),
      user_agent_(options_.user_agent_suffix.empty()
                      ? absl::StrCat("certfleet/", kVersion)
                      : absl::StrCat("certfleet/", kVersion, " ", options_.user_agent_suffix)) {
  GlobalInitOnce();
}

CurlHttpTransport::~CurlHttpTransport() {
  absl::MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
  idle_.clear();
}

void* CurlHttpTransport::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void CurlHttpTransport::ReleaseHandle(void* handle) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(idle_.size()) < options_.max_idle_handles) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

absl::StatusOr<HttpResponse> CurlHttpTransport::Send(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(AcquireHandle());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  // Keep the connection cache, reset everything else.
  curl_easy_reset(curl);

  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  for (const auto& [name, value] : request.headers) {
    curl_slist* next =
        curl_slist_append(header_list.get(), absl::StrCat(name, ": ", value).c_str());
    if (next == nullptr) {
      ReleaseHandle(curl);
      return absl::InternalError("curl_slist_append failed");
    }
    header_list.release();
    header_list.reset(next);
  }

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_bundle_path.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_bundle_path.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.total_timeout)));
  if (!options_.no_proxy.empty()) {
    curl_easy_setopt(curl, CURLOPT_NOPROXY, options_.no_proxy.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  // Drop pointers into this stack frame before the handle is reused.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  ReleaseHandle(curl);
  if (rc != CURLE_OK) {
    std::string reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::UnavailableError(
          absl::StrCat(request.method, " ", request.url, " timed out: ", reason));
    }
    return absl::UnavailableError(
        absl::StrCat(request.method, " ", request.url, " failed: ", reason));
  }
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace certfleet::acme
