// Credentials out of URLs: userinfo, query values and fragments hidden, the rest kept, in one
// URL and inside free text such as the errors HTTP clients throw.
import { describe, expect, it } from "vitest";
import { redactUrl, redactUrlsIn } from "../../agent/text/url-credentials.js";

describe("redactUrl", () => {
  it.each([
    ["https://127.0.0.1:6443", "https://127.0.0.1:6443"],
    ["https://kube.example:6443/prefix/", "https://kube.example:6443/prefix/"],
    ["https://admin:hunter2@127.0.0.1:6443", "https://***@127.0.0.1:6443"],
    ["https://admin:hunter2@127.0.0.1:6443/api?watch=1", "https://***@127.0.0.1:6443/api?watch=***"],
    ["https://token-only@kube.example/", "https://***@kube.example/"],
    // A password with "@" or "/" in it, not percent-encoded: nothing of it is left.
    ["https://admin:p@ss@kube.example/", "https://***@kube.example/"],
    ["https://admin:pa/ss@kube.example/", "https://***@kube.example/"],
    ["https://kube.example/?token=s3cr3t&x=1", "https://kube.example/?token=***&x=***"],
    ["https://kube.example/?s3cr3t", "https://kube.example/?***"],
    ["https://kube.example/?a=1&&b", "https://kube.example/?a=***&&***"],
    ["https://kube.example/path#access_token=s3cr3t", "https://kube.example/path#***"],
    ["https://kube.example/path?x=1#frag", "https://kube.example/path?x=***#***"],
    ["https://kube.example/path#frag?x=s3cr3t", "https://kube.example/path#***"],
    ["http://user:pw@[::1]:8080/api", "http://***@[::1]:8080/api"],
    ["not a url", "not a url"],
    ["kube.example:6443", "kube.example:6443"],
  ])("%s -> %s", (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});

describe("redactUrlsIn", () => {
  it("hides the credentials of every URL in a message and keeps the words around them", () => {
    const message =
      "Request cannot be constructed from a URL that includes credentials: https://admin:hunter2secret@127.0.0.1:1/?token=qtoken123&x=1%2Fapi%2Fv1%2Fnamespaces&limit=500";
    const redacted = redactUrlsIn(message);
    expect(redacted).toBe("Request cannot be constructed from a URL that includes credentials: https://***@127.0.0.1:1/?token=***&x=***&limit=***");
    expect(redacted).not.toContain("hunter2secret");
    expect(redacted).not.toContain("qtoken123");
  });

  it("keeps punctuation that closes the sentence, and quotes around a URL", () => {
    expect(redactUrlsIn("lost pods (connect ECONNREFUSED https://u:p@10.0.0.1:6443/api?t=x). Retrying")).toBe(
      "lost pods (connect ECONNREFUSED https://***@10.0.0.1:6443/api?t=***). Retrying",
    );
    expect(redactUrlsIn(`bad feed URL from base "http://mirror:pw@example.test/api": Invalid URL`)).toBe(`bad feed URL from base "http://***@example.test/api": Invalid URL`);
  });

  it("two URLs, and text with none", () => {
    expect(redactUrlsIn("from https://a:b@x.test/ via http://proxy-user:proxy-pw@proxy.test:3128")).toBe("from https://***@x.test/ via http://***@proxy.test:3128");
    expect(redactUrlsIn("ENOENT: no such file or directory, open '/home/me/.kube/config'")).toBe("ENOENT: no such file or directory, open '/home/me/.kube/config'");
  });
});
