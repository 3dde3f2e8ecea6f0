// A real DNS server on loopback (dns2), so resolver code is tested against the wire protocol.
import dns2 from 'dns2';

export type ZoneRecord =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  | { type: 'MX'; exchange: string; priority: number }
  | { type: 'TXT'; data: string }
  | { type: 'CNAME'; domain: string };

/** name -> records; a name mapped to 'servfail' answers SERVFAIL, 'silent' never answers; unknown names are NXDOMAIN. */
export type Zone = Record<string, ZoneRecord[] | 'servfail' | 'silent'>;

export interface TestDnsServer {
  /** host:port for MAILERDASH_DNS_SERVERS. */
  address: string;
  zone: Zone;
  queries: Array<{ name: string; type: number }>;
  close(): Promise<void>;
}

const { Packet } = dns2 as unknown as { Packet: any };

function chunk(text: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(text.slice(i, i + 255));
  return parts.length ? parts : [''];
}

export async function startDnsServer(zone: Zone = {}): Promise<TestDnsServer> {
  const queries: TestDnsServer['queries'] = [];
  const server = (dns2 as any).createServer({
    udp: true,
    handle(request: any, send: (response: any) => void) {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = String(question.name).toLowerCase().replace(/\.$/, '');
      queries.push({ name, type: question.type });
      const entry = zone[name];
      if (entry === 'silent') return;
      if (entry === 'servfail') {
        response.header.rcode = Packet.RCODE.SERVFAIL;
        return send(response);
      }
      if (!entry) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
        return send(response);
      }
      for (const record of entry) {
        const type = Packet.TYPE[record.type];
        if (type !== question.type) continue;
        const base = { name: question.name, type, class: Packet.CLASS.IN, ttl: 60 };
        if (record.type === 'TXT') response.answers.push({ ...base, data: chunk(record.data) });
        else if (record.type === 'MX') response.answers.push({ ...base, exchange: record.exchange, priority: record.priority });
        else if (record.type === 'CNAME') response.answers.push({ ...base, domain: record.domain });
        else response.answers.push({ ...base, address: record.address });
      }
      send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: '127.0.0.1', type: 'udp4' } });
  const port = server.addresses().udp.port as number;
  return {
    address: `127.0.0.1:${port}`,
    zone,
    queries,
    close: () => server.close(),
  };
}
