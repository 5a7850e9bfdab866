// Object names as the API server validates them (k8s.io/apimachinery's IsDNS1123Subdomain,
// IsDNS1123Label, IsDNS1035Label, and each kind's ValidateName): most objects are named by a
// DNS subdomain, a Namespace by a DNS label, a Service by a DNS-1035 label (it becomes a DNS
// name), a CronJob by at most 52 characters (its Jobs append 11). A manifest whose names the
// API server would refuse is refused here too: such a name never reaches a cluster, and one
// holding control characters must not reach a terminal either.

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
export const DNS1123_LABEL = new RegExp(`^${LABEL}$`);
export const DNS1123_SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

interface NameRule {
  readonly pattern: RegExp;
  readonly maxLength: number;
  readonly words: string;
}

const SUBDOMAIN: NameRule = {
  pattern: DNS1123_SUBDOMAIN,
  maxLength: 253,
  words: 'a DNS subdomain: at most 253 characters, lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
};
const DNS_LABEL: NameRule = {
  pattern: DNS1123_LABEL,
  maxLength: 63,
  words: 'a DNS label: at most 63 characters, lower-case letters, digits and "-", starting and ending with a letter or digit',
};
const RULES: Readonly<Record<string, NameRule>> = {
  Namespace: DNS_LABEL,
  Service: {
    pattern: DNS1035_LABEL,
    maxLength: 63,
    words: 'a DNS-1035 label: at most 63 characters, lower-case letters, digits and "-", starting with a letter and ending with a letter or digit',
  },
  CronJob: { ...SUBDOMAIN, maxLength: 52, words: SUBDOMAIN.words.replace("at most 253", "at most 52 (its Jobs add 11)") },
};

function problem(name: string, rule: NameRule, what: string): string | undefined {
  if (name.length <= rule.maxLength && rule.pattern.test(name)) return undefined;
  return `${JSON.stringify(name)} is not a valid ${what}: it must be ${rule.words}`;
}

/** Why the API server would refuse this name for an object of this kind; undefined if it would not. */
export function objectNameProblem(kind: string, name: string): string | undefined {
  return problem(name, RULES[kind] ?? SUBDOMAIN, `${kind} name`);
}

/** Why the API server would refuse this metadata.namespace; undefined if it would not. */
export function namespaceNameProblem(namespace: string): string | undefined {
  return problem(namespace, DNS_LABEL, "namespace name");
}
