// A listening NVMe/TCP port: accepts connections and owns their queues.
import net from 'node:net';
import type { PortRuntime, Target } from '../controller/target.js';
import { TcpQueue } from './tcp-queue.js';

export class TcpListener {
  private readonly server: net.Server;
  readonly queues = new Set<TcpQueue>();
  boundPort = 0;

  constructor(
    readonly port: PortRuntime,
    target: Target,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => {
      if (target.counters.connectionsActive >= target.limits.maxConnections) {
        // A flood cannot take the daemon's memory: refuse at once, log once in a while.
        if (target.counters.connectionsRefused++ % 1000 === 0) {
          target.log.warn({ limit: target.limits.maxConnections, refused: target.counters.connectionsRefused }, 'connection refused: limits.max_connections reached');
        }
        socket.destroy();
        return;
      }
      target.counters.connectionsAccepted++;
      target.counters.connectionsActive++;
      const q = new TcpQueue(socket, target, port, (closed) => {
        target.counters.connectionsActive--;
        this.queues.delete(closed);
      });
      this.queues.add(q);
    });
  }

  /** Bind; rejects with the OS reason (EADDRINUSE, EADDRNOTAVAIL...) so config errors can name the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.port.traddr, port: this.port.trsvcid, backlog: 1024, ipv6Only: this.port.adrfam === 'ipv6' }, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.port.trsvcid;
        this.port.trsvcid = this.boundPort;
        resolve(this.boundPort);
      });
    });
  }

  /** Accept no more connections; existing ones carry on. */
  stopAccepting(): void {
    this.server.close();
  }

  async close(): Promise<void> {
    for (const q of this.queues) q.close('shutdown');
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
