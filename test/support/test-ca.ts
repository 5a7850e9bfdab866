// Certificate authorities made at test time with openssl (Debian's, as on every CI image):
// a CA with the subject the test asks for, issuing leaf certificates for names and
// addresses on demand. Keys live in a temp dir that close() removes. EC P-256 keys, so that
// issuing a leaf takes milliseconds.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Subject of Zscaler's inspection intermediate, as its re-signed certificates name their issuer. */
export const ZSCALER_LIKE_CA_SUBJECT = "/C=US/ST=California/O=Zscaler Inc./OU=Zscaler Inc./CN=Zscaler Intermediate Root CA (zscaler.net) (t)";
/** A stand-in for a public CA: what an origin's certificate is issued by when nothing inspects. */
export const PUBLIC_LIKE_CA_SUBJECT = "/C=US/O=Netcanary Test Trust/CN=Netcanary Test Public CA R1";

export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TestCa {
  readonly certPem: string;
  readonly subject: string;
  /** A leaf for a DNS name or an IP address (one SAN), cached per name. */
  issue(name: string): Promise<IssuedCertificate>;
  /** A self-signed leaf (no CA), for "untrusted" cases. */
  selfSigned(name: string): Promise<IssuedCertificate>;
  /** Removes the keys; the CA cannot issue afterwards. */
  close(): Promise<void>;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const NAME = /^[a-z0-9.:-]{1,253}$/i;

function san(name: string): string {
  return isIP(name) !== 0 ? `IP:${name}` : `DNS:${name}`;
}

export async function createTestCa(subject: string): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), "netcanary-ca-"));
  const caKey = join(dir, "ca.key");
  const caCert = join(dir, "ca.crt");
  await run("openssl", ["req", "-x509", ...EC, "-keyout", caKey, "-out", caCert, "-days", "2", "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const certPem = await readFile(caCert, "utf8");
  const issued = new Map<string, Promise<IssuedCertificate>>();
  let serial = 1;
  let closed = false;

  const leaf = async (name: string, signed: boolean): Promise<IssuedCertificate> => {
    if (closed) throw new Error("test CA is closed");
    if (!NAME.test(name)) throw new Error(`test CA: refusing to issue for ${JSON.stringify(name)}`);
    const base = join(dir, `${signed ? "leaf" : "self"}-${serial++}`);
    const extensions = `${base}.ext`;
    await writeFile(extensions, `subjectAltName=${san(name)}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
    const subjectName = `/CN=${isIP(name) !== 0 ? "address" : name}`;
    if (signed) {
      await run("openssl", ["req", "-new", ...EC, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", subjectName]);
      await run("openssl", ["x509", "-req", "-in", `${base}.csr`, "-CA", caCert, "-CAkey", caKey, "-set_serial", String(1000 + serial), "-days", "2", "-extfile", extensions, "-out", `${base}.crt`]);
    } else {
      await run("openssl", ["req", "-x509", ...EC, "-keyout", `${base}.key`, "-out", `${base}.crt`, "-days", "2", "-subj", subjectName, "-addext", `subjectAltName=${san(name)}`]);
    }
    return { certPem: await readFile(`${base}.crt`, "utf8"), keyPem: await readFile(`${base}.key`, "utf8") };
  };

  return {
    certPem,
    subject,
    issue(name: string): Promise<IssuedCertificate> {
      let pending = issued.get(name);
      if (pending === undefined) {
        pending = leaf(name, true);
        issued.set(name, pending);
      }
      return pending;
    },
    selfSigned: (name: string) => leaf(name, false),
    async close(): Promise<void> {
      closed = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
