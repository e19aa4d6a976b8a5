"""The loopback world with mail in it: the test world (DNS on 53, policy
hosts on 443) plus STARTTLS SMTP sinks on port 25 of four loopback
addresses, one per kind of receiving server, and domains whose MX hosts
point at them.  Run it inside netns.enter()."""
import os

import netns
from smtp_sink import Sink
from world import World, policy

GOOD, WRONG, PLAIN, ROGUE = ("127.0.0.11", "127.0.0.12", "127.0.0.13",
                             "127.0.0.14")
# a second server without STARTTLS: an MTA that saw TLS fail on PLAIN may
# hold that host back for a while, for every domain
PLAIN2 = "127.0.0.19"
SINK_NAMES = {GOOD: "good MX (valid certificate)",
              WRONG: "MX with a wrong-name certificate",
              PLAIN: "MX without STARTTLS",
              PLAIN2: "MX without STARTTLS",
              ROGUE: "rogue MX (not in the policy)"}
# an MX the policies never name, at the rogue sink
ATTACKER = (5, "mx.attacker.example", ROGUE)


class MailWorld:
    """domains: {domain: (mode or None for no policy, sink address or
    None, extra (preference, name, address) MX...)}; each domain's own MX
    is mx.<domain> at the sink, and its policy names only that host."""

    def __init__(self, domains, extra_config=""):
        w = self.world = World(scenarios={}, real_ports=True,
                               extra_config=extra_config)
        os.chmod(w.dir, 0o755)  # the Exim user reads the CA and config
        netns.use_resolver(w.dir)
        names = [f"mx.{d}" for d, spec in domains.items()
                 if spec[1] == GOOD]
        self.sinks = {
            GOOD: Sink(GOOD, cert=w.ca.issue("sink-good", names)),
            WRONG: Sink(WRONG, cert=w.ca.issue(
                "sink-wrong", ["mx.somewhere-else.example"])),
            PLAIN: Sink(PLAIN),
            PLAIN2: Sink(PLAIN2),
            ROGUE: Sink(ROGUE, cert=w.ca.issue(
                "sink-rogue", ["mx.attacker.example"])),
        }
        for domain, (mode, address, *extra) in domains.items():
            mx = list(extra)
            if address is not None:
                mx.append((10, f"mx.{domain}", address))
            if mode is None:
                w.add(domain, txt=None, site=None, mx=mx)
            else:
                w.add(domain, mx=mx, site=dict(body=policy(
                    mode, mx=(f"mx.{domain}",) if mode != "none" else ())))

    def got(self, address, domain):
        """[tls] for each message the sink at address got for domain."""
        return [m.tls for m in self.sinks[address].received(domain)]

    def everywhere(self, domain):
        """{sink address: [tls] of each message} of every sink that got
        mail for domain."""
        return {a: self.got(a, domain) for a in self.sinks
                if self.got(a, domain)}

    def stop(self):
        for s in self.sinks.values():
            s.stop()
        netns.unbind_all()
        self.world.stop()
