// Every flag of a daemon can also come from an environment variable (commander's Option.env), so
// that a systemd unit runs the daemon with no flags and an EnvironmentFile (systemd/).
import { Command, type Option } from 'commander';

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['', '0', 'false', 'no', 'off']);

/** The variable an option is read from unless renamed: --nginx-admin ← ZDD_NGINX_ADMIN. */
export const envName = (optionName: string) => `ZDD_${optionName.replace(/-/g, '_').toUpperCase()}`;

/**
 * A command whose every option (but --version) also reads ZDD_<FLAG>, or the variable `rename`
 * gives for its attribute name; a flag on the command line wins over the variable. Options added
 * later (a new flag) get their variable too. Commander sets a boolean option whenever its variable
 * exists, whatever its value; here ZDD_EDGE=true turns it on and "", "0" or "false" leave it off.
 */
export class EnvCommand extends Command {
  constructor(
    name: string,
    private readonly environment: NodeJS.ProcessEnv,
    private readonly rename: Record<string, string> = {},
  ) {
    super(name);
  }

  override addOption(opt: Option): this {
    // Option.env must be set before commander registers the option's listeners.
    if (opt.long !== '--version' && !opt.envVar) opt.env(this.rename[opt.attributeName()] ?? envName(opt.name()));
    super.addOption(opt);
    const name = opt.envVar;
    if (name && opt.isBoolean()) {
      // runs after commander's own listener, which has just set the option to true
      this.on(`optionEnv:${opt.name()}`, () => {
        const v = (this.environment[name] ?? '').trim().toLowerCase();
        if (!TRUE.has(v) && !FALSE.has(v)) this.error(`error: ${name}="${this.environment[name]}" is not a boolean: use true or false`);
        this.setOptionValueWithSource(opt.attributeName(), TRUE.has(v), 'env');
      });
    }
    return this;
  }
}
