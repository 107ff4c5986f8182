// Well-known idle timeouts of the middleboxes that forget idle TCP connections: cloud load
// balancers, NAT gateways, stateful firewalls, connection trackers and proxies. When a reset
// follows an idle gap, the diagnosis matches the gap against this list to name the likely
// culprit. Every value is the vendor's documented default as read in the cited source (stored
// copies consulted in November 2026); operators can change most of them, so a match is a hint,
// never a verdict.
//
// atExpiry says what the box does to the expired flow, and only when the source says so:
// 'rst' means a reset comes back (at expiry or on the next packet of the flow), 'drop' means
// the flow's packets are silently discarded, 'unknown' means the source does not say (or it
// depends on the configuration). Proxies that close their own sockets at the timeout are
// 'unknown' here: how they close is not documented.
//
// Left out because no vendor source confirmed them: Google Cloud VPC firewall connection
// tracking (10 minutes, quoted only second-hand), the Google Cloud load balancers' backend
// keepalive (600 s, likewise), Check Point's TCP session timeout (3600 s, likewise). HAProxy
// has no default idle timeout at all: an unset "timeout client/server" is infinite.

export interface KnownIdleTimeout {
  /** Stable id, snake_case, e.g. 'aws_nat_gateway'. */
  id: string;
  /** What users call it, e.g. 'AWS NAT gateway'. */
  name: string;
  /** Default TCP idle timeout in seconds. */
  seconds: number;
  /** Whether operators can change it (then the default is only a hint). */
  configurable: boolean;
  /** What the box does at expiry, when documented: 'rst' | 'drop' | 'unknown'. */
  atExpiry: 'rst' | 'drop' | 'unknown';
  /** Where the number comes from. */
  source: string;
}

export const KNOWN_IDLE_TIMEOUTS: readonly KnownIdleTimeout[] = [
  {
    // Applies to client and target connections; the load balancer closes them.
    id: 'aws_alb',
    name: 'AWS Application Load Balancer',
    seconds: 60,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html',
  },
  {
    // Front-end and back-end connections alike; configurable from 1 to 3600 s.
    id: 'aws_classic_elb',
    name: 'AWS Classic Load Balancer',
    seconds: 60,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/elasticloadbalancing/aws.sdk.kotlin.services.elasticloadbalancing.model/-load-balancer-attributes/connection-settings.html',
  },
  {
    // Configurable from 4 to 100 minutes. Flows are dropped silently by default; "TCP reset
    // on idle" per rule makes it send RSTs both ways (see load-balancer-tcp-reset.md).
    id: 'azure_load_balancer',
    name: 'Azure Load Balancer',
    seconds: 240,
    configurable: true,
    atExpiry: 'drop',
    source:
      'https://github.com/MicrosoftDocs/azure-docs/blob/main/articles/load-balancer/load-balancer-tcp-idle-timeout.md',
  },
  {
    // The flow is dropped silently at expiry; a RST answers the next packet on it, from
    // either side. Configurable from 4 to 120 minutes.
    id: 'azure_nat_gateway',
    name: 'Azure NAT Gateway',
    seconds: 240,
    configurable: true,
    atExpiry: 'rst',
    source:
      'https://github.com/MicrosoftDocs/azure-docs/blob/00595da9da44c880f778908815c2180ad72f60c8/articles/nat-gateway/nat-gateway-resource.md',
  },
  {
    // Only Azure support can extend it (to 30 minutes).
    id: 'azure_firewall',
    name: 'Azure Firewall',
    seconds: 240,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://github.com/MicrosoftDocs/azure-docs/blob/17f4e7135a0a6d88926d83c7040c62cccaa70f16/articles/firewall/long-running-sessions.md',
  },
  {
    // RST only if send_tcp_reset.on_idle_timeout.enabled, which is false by default.
    // Configurable from 60 to 6000 s.
    id: 'aws_gateway_load_balancer',
    name: 'AWS Gateway Load Balancer',
    seconds: 350,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/gateway/gateway-listeners.html',
  },
  {
    // No knob documented. A RST answers resources behind it that continue the connection;
    // no FIN is sent.
    id: 'aws_nat_gateway',
    name: 'AWS NAT gateway',
    seconds: 350,
    configurable: false,
    atExpiry: 'rst',
    source:
      'https://github.com/awsdocs/amazon-vpc-user-guide/blob/1e1eda574128b0be1678bd00627d482fbefb4ce6/doc_source/nat-gateway-troubleshooting.md',
  },
  {
    // Data packets are dropped after expiry; a new SYN starts a new flow.
    // Configurable from 60 to 6000 s.
    id: 'aws_network_firewall',
    name: 'AWS Network Firewall',
    seconds: 350,
    configurable: true,
    atExpiry: 'drop',
    source:
      'https://docs.aws.amazon.com/network-firewall/latest/APIReference/API_FlowTimeouts.html',
  },
  {
    // Formerly fixed; TCP listeners now take 60 to 6000 s (TLS listeners stay at 350 s).
    // Data sent after expiry gets a RST.
    id: 'aws_network_load_balancer',
    name: 'AWS Network Load Balancer',
    seconds: 350,
    configurable: true,
    atExpiry: 'rst',
    source:
      'https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html',
  },
  {
    // Newer EC2 API docs give 350 s as the default on Nitro v6 instance types (except
    // P6e-GB200); see aws_security_group_conntrack for all others. Configurable 60 to 432000 s.
    id: 'aws_security_group_conntrack_nitro_v6',
    name: 'AWS security group connection tracking (Nitro v6 instances)',
    seconds: 350,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.aws.amazon.com/sdk-for-python/v4/reference/clients/ec2/structures/ConnectionTrackingConfiguration/',
  },
  {
    // IP_VS_TCP_S_ESTABLISHED = 15*60*HZ in the kernel; changed with ipvsadm --set.
    id: 'linux_ipvs',
    name: 'Linux IPVS (e.g. kube-proxy in IPVS mode)',
    seconds: 900,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://github.com/torvalds/linux/blob/0134e89c7bcc9fde1da962c82a120691e185619f/net/netfilter/ipvs/ip_vs_proto_tcp.c',
  },
  {
    // tcpEstablishedIdleTimeoutSec, per the Compute Engine API's RouterNat description.
    id: 'gcp_cloud_nat',
    name: 'Google Cloud NAT',
    seconds: 1200,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://pub.dev/documentation/googleapis/latest/compute_v1/RouterNat/tcpEstablishedIdleTimeoutSec.html',
  },
  {
    id: 'juniper_srx',
    name: 'Juniper SRX',
    seconds: 1800,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://www.juniper.net/documentation/ru/ru/software/junos/flow-packet-processing/topics/topic-map/security-flow-based-session-for-srx-series-devices.html',
  },
  {
    // "timeout conn"; a RST is sent only with "set connection timeout idle ... reset".
    id: 'cisco_asa',
    name: 'Cisco ASA',
    seconds: 3600,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://cisco.com/c/en/us/support/docs/security/secure-firewall-asa/222075-configure-connection-timeout-for-specifi.html',
  },
  {
    // TcpProxy idle_timeout; older Envoy releases had no default.
    id: 'envoy_tcp_proxy',
    name: 'Envoy TCP proxy',
    seconds: 3600,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://github.com/envoyproxy/envoy/blob/main/docs/root/faq/configuration/timeouts.rst',
  },
  {
    // "config system session-ttl"; overridable per policy and per service.
    id: 'fortinet_fortigate',
    name: 'Fortinet FortiGate',
    seconds: 3600,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://community.fortinet.com/t5/FortiGate/Technical-Tip-Default-session-timeout-value-session-ttl/ta-p/194357',
  },
  {
    // Global TCP session timeout; overridable per application.
    id: 'palo_alto_panos',
    name: 'Palo Alto Networks PAN-OS',
    seconds: 3600,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.paloaltonetworks.com/ngfw/networking/session-settings-and-timeouts/configure-session-timeouts/configure-session-timeouts-pan-os',
  },
  {
    // kube-proxy --conntrack-tcp-timeout-established sets the node's conntrack sysctl.
    id: 'kube_proxy_conntrack',
    name: 'kube-proxy conntrack (Kubernetes nodes)',
    seconds: 86400,
    configurable: true,
    atExpiry: 'unknown',
    source: 'https://kubernetes.io/docs/reference/generated/kube-proxy',
  },
  {
    // PFTM_TCP_ESTABLISHED_VAL = 24*60*60; "set timeout tcp.established" changes it.
    // Used by pfSense and OPNsense.
    id: 'pf_tcp_established',
    name: 'pf (OpenBSD, FreeBSD, pfSense, OPNsense)',
    seconds: 86400,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://github.com/freebsd/freebsd-src/blob/03ccfdd2ecf36648affb5bb7868bc1dd2f8b195d/sys/netpfil/pf/pf.h',
  },
  {
    // tcpEstablishedTimeout on the network interface; configurable from 60 to 432000 s.
    id: 'aws_security_group_conntrack',
    name: 'AWS security group connection tracking',
    seconds: 432000,
    configurable: true,
    atExpiry: 'unknown',
    source:
      'https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ConnectionTrackingConfiguration.html',
  },
  {
    // net.netfilter.nf_conntrack_tcp_timeout_established.
    id: 'linux_nf_conntrack',
    name: 'Linux netfilter conntrack',
    seconds: 432000,
    configurable: true,
    atExpiry: 'unknown',
    source: 'https://docs.kernel.org/_sources/networking/nf_conntrack-sysctl.rst.txt',
  },
];
