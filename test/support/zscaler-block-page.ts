// A block page shaped like Zscaler's default end-user notification (HTTP 403, the title
// "Internet Security by Zscaler", a reason line), written for the tests: what the lab proxy
// and origin serve where Zscaler would block.

export function zscalerBlockPageHtml(host: string): string {
  const safeHost = host.replace(/[^a-z0-9.:-]/gi, "");
  return [
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">',
    "<html><head>",
    '<meta name="description" content="Web security provided by the lab gateway.">',
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
    "<title>Internet Security by Zscaler</title>",
    "<script>var defLang = 'en_US';</script>",
    "</head><body><div class=\"pg\"><table><tr><td>",
    "<span>Sorry, you don't have permission to visit this site.</span>",
    `<span>${safeHost}</span>`,
    "<span>Not allowed to browse Lab Blocked category</span>",
    "</td></tr></table></div></body></html>",
  ].join("\n");
}
